-- ims.errors: the ims.Error object, the four error body shapes, HTML/text bodies, transport
-- errors, tostring formats and URL redaction.
local errors = require "ims.errors"

local U = "https://ims.cn-north-4.myhuaweicloud.com/v2/images/abc"

local function resp(status, body, headers, reason)
  return { status = status, reason = reason, headers = headers or {}, body = body }
end

describe("ims.errors.new", function()
  it("makes an ims.Error with the given fields, extra ones kept", function()
    local e = errors.new { kind = "checksum", code = "sha512", message = "digest mismatch",
      expected = "aa", actual = "bb" }
    assert.is_true(errors.is_error(e))
    assert.are.equal(errors.Error, getmetatable(e))
    assert.are.equal("ims.Error", getmetatable(e).__name)
    assert.are.equal("checksum", e.kind)
    assert.are.equal("aa", e.expected)
    assert.are.equal("bb", e.actual)
    assert.is_false(e.retryable)
  end)

  it("does not modify the table it was given", function()
    local fields = { kind = "http", url = "https://u:p@h/x?token=t" }
    errors.new(fields)
    assert.are.equal("https://u:p@h/x?token=t", fields.url)
    assert.is_nil(getmetatable(fields))
  end)

  it("redacts the URL, caps the body at 4 KiB and never stores headers", function()
    local e = errors.new { kind = "http", url = "https://user:pw@h/v2/images?X-Auth-Token=abc&limit=1",
      body = string.rep("x", 10000), headers = { ["x-subject-token"] = "secret" } }
    assert.are.equal("https://h/v2/images?X-Auth-Token=REDACTED&limit=1", e.url)
    assert.are.equal(4096, #e.body)
    assert.is_nil(e.headers)
  end)

  it("is_error is false for other values", function()
    assert.is_false(errors.is_error({ kind = "http" }))
    assert.is_false(errors.is_error("ims: x"))
    assert.is_false(errors.is_error(nil))
  end)
end)

describe("ims.errors.from_response", function()
  it("parses the IMS shape {error: {message, code}}", function()
    local e = errors.from_response(resp(400,
      '{"error": {"message": "The imagetype is invalid.", "code": "IMG.0024"}}',
      { ["x-request-id"] = "7c1d2e" }, "Bad Request"), "POST", U)
    assert.are.equal("http", e.kind)
    assert.are.equal(400, e.status)
    assert.are.equal("IMG.0024", e.code)
    assert.are.equal("The imagetype is invalid.", e.message)
    assert.are.equal("7c1d2e", e.request_id)
    assert.are.equal("POST", e.method)
    assert.are.equal(U, e.url)
    assert.is_false(e.retryable)
  end)

  it("parses the API Gateway shape, request id from the body", function()
    local body = '{"error_msg": "Incorrect IAM authentication information: verify aksk signature fail,'
      .. ' SignedHeaders=content-type;host;x-sdk-date", "error_code": "APIGW.0301",'
      .. ' "request_id": "0a1b2c3d4e5f"}'
    local e = errors.from_response(resp(401, body), "GET", U)
    assert.are.equal("APIGW.0301", e.code)
    assert.are.equal("Incorrect IAM authentication information: verify aksk signature fail,"
      .. " SignedHeaders=content-type;host;x-sdk-date", e.message)
    assert.are.equal("0a1b2c3d4e5f", e.request_id)
    assert.are.equal("http", e.kind)
    assert.is_false(e.retryable)
    assert.are.equal(body, e.body)
  end)

  it("parses the camel-case API Gateway shape; 429 is retryable", function()
    local e = errors.from_response(resp(429, '{"errorMsg": "The throttling threshold has been reached:'
      .. ' policy user over ratelimit,limit:10,time:1 minute", "errorCode": "APIG.0308"}',
      { ["retry-after"] = "3" }), "GET", U)
    assert.are.equal("APIG.0308", e.code)
    assert.matches("^The throttling threshold has been reached", e.message)
    assert.is_true(e.retryable)
    assert.are.equal(3, e.retry_after)
  end)

  it("parses the Keystone shape without taking its integer code", function()
    local e = errors.from_response(resp(401, '{"error": {"message": "The request you have made requires'
      .. ' authentication.", "code": 401, "title": "Unauthorized"}}'), "POST",
      "https://iam.example.com/v3/auth/tokens")
    assert.is_nil(e.code)
    assert.are.equal("The request you have made requires authentication.", e.message)
    assert.are.equal(401, e.status)
    assert.are.equal("http", e.kind)
  end)

  it("parses the Glance shape, dropping the status-like code and the webob <br /> tail", function()
    local e = errors.from_response(resp(404, '{"message": "No image found with ID '
      .. '00000000-0000-0000-0000-000000000000<br /><br />\\n\\n\\n", "code": "404 Not Found",'
      .. ' "title": "Not Found"}', { ["x-openstack-request-id"] = "req-9f8e" }, "Not Found"), "GET", U)
    assert.is_nil(e.code)
    assert.are.equal("No image found with ID 00000000-0000-0000-0000-000000000000", e.message)
    assert.are.equal("req-9f8e", e.request_id)
    assert.are.equal(404, e.status)
  end)

  it("parses a Glance 413 message", function()
    local e = errors.from_response(resp(413, '{"message": "The incoming image is too large: The provided'
      .. ' image is too large.<br /><br />\\n\\n\\n", "code": "413 Request Entity Too Large",'
      .. ' "title": "Request Entity Too Large"}'), "PUT", U .. "/file")
    assert.are.equal("The incoming image is too large: The provided image is too large.", e.message)
    assert.is_nil(e.code)
  end)

  it("prefers X-Request-Id, then X-Openstack-Request-Id, then the body", function()
    local body = '{"error_msg": "m", "error_code": "APIGW.0101", "request_id": "from-body"}'
    assert.are.equal("a", errors.from_response(resp(404, body,
      { ["x-request-id"] = "a", ["x-openstack-request-id"] = "b" })).request_id)
    assert.are.equal("b", errors.from_response(resp(404, body,
      { ["x-openstack-request-id"] = "b" })).request_id)
    assert.are.equal("from-body", errors.from_response(resp(404, body)).request_id)
    assert.is_nil(errors.from_response(resp(404, "")).request_id)
  end)

  it("makes a readable message from a webob HTML page", function()
    local e = errors.from_response(resp(401, '<html>\n <head>\n  <title>401 Unauthorized</title>\n'
      .. ' </head>\n <body>\n  <h1>401 Unauthorized</h1>\n  This server could not verify that you are'
      .. ' authorized to access the document you requested. Either you supplied the wrong credentials'
      .. ' (e.g., bad password), or your browser does not understand how to supply the credentials'
      .. ' required.<br /><br />\n\n\n\n </body>\n</html>', { ["content-type"] = "text/html" },
      "Unauthorized"), "GET", U)
    assert.are.equal("This server could not verify that you are authorized to access the document you"
      .. " requested. Either you supplied the wrong credentials (e.g., bad password), or your browser"
      .. " does not understand how to supply the credentials required.", e.message)
    assert.is_nil(e.code)
    assert.are.equal("http", e.kind)
  end)

  it("handles the compact HTML page even without a reason phrase", function()
    local e = errors.from_response(resp(401, '<html><head><title>401 Unauthorized</title></head><body>'
      .. '<h1>401 Unauthorized</h1>This server could not verify that you are authorized to access the'
      .. ' document you requested.<br /><br />\n\n\n</body></html>'), "GET", U)
    assert.are.equal("This server could not verify that you are authorized to access the document you"
      .. " requested.", e.message)
  end)

  it("cleans text/plain bodies and decodes entities", function()
    local e = errors.from_response(resp(409, "409 Conflict\n\nImage &#39;x&#39; &amp; &quot;y&quot;"
      .. " &lt;queued&gt; cannot be deleted\n\n   "), "DELETE", U)
    assert.are.equal("Image 'x' & \"y\" <queued> cannot be deleted", e.message)
  end)

  it("keeps a text body that does not start with the status line", function()
    local e = errors.from_response(resp(502, "upstream connect error or disconnect/reset before headers",
      nil, "Bad Gateway"), "GET", U)
    assert.are.equal("upstream connect error or disconnect/reset before headers", e.message)
    assert.is_true(e.retryable)
  end)

  it("falls back to the text when the body is not valid JSON", function()
    local e = errors.from_response(resp(500, "{oops"), "GET", U)
    assert.are.equal("{oops", e.message)
    assert.is_nil(e.code)
  end)

  it("uses the reason phrase, or HTTP <status>, for an empty body", function()
    assert.are.equal("Service Unavailable",
      errors.from_response(resp(503, "", nil, "Service Unavailable")).message)
    assert.are.equal("Not Found", errors.from_response(resp(404, nil)).message)
    assert.are.equal("HTTP 599", errors.from_response(resp(599, nil)).message)
  end)

  it("marks 408, 429, 500, 502, 503, 504 retryable and others not", function()
    for _, s in ipairs { 408, 429, 500, 502, 503, 504 } do
      assert.is_true(errors.from_response(resp(s, "")).retryable, s)
    end
    for _, s in ipairs { 400, 401, 403, 404, 409, 413, 501 } do
      assert.is_false(errors.from_response(resp(s, "")).retryable, s)
    end
  end)

  it("keeps 401/403 as kind http", function()
    assert.are.equal("http", errors.from_response(resp(403, "")).kind)
  end)

  it("redacts the URL and keeps only the first 4 KiB of the body", function()
    local e = errors.from_response(resp(500, string.rep("a", 5000)), "GET",
      "https://u:p@h/v2/images?token=abc")
    assert.are.equal("https://h/v2/images?token=REDACTED", e.url)
    assert.are.equal(4096, #e.body)
  end)

  it("does not store response headers", function()
    local e = errors.from_response(resp(401, "", { ["x-subject-token"] = "tok", ["x-auth-token"] = "t" }))
    assert.is_nil(e.headers)
    for _, v in pairs(e) do assert.are_not.equal("tok", v) end
  end)
end)

describe("ims.errors.from_transport", function()
  it("keeps the curl name and message; COULDNT_CONNECT is retryable", function()
    local e = errors.from_transport({ code = "COULDNT_CONNECT", curl_code = 7,
      message = "Couldn't connect to server" }, "GET", "http://127.0.0.1:1/v2/images")
    assert.are.equal("transport", e.kind)
    assert.are.equal("COULDNT_CONNECT", e.code)
    assert.are.equal(7, e.curl_code)
    assert.are.equal("Couldn't connect to server", e.message)
    assert.is_true(e.retryable)
    assert.is_nil(e.status)
  end)

  it("uses kind timeout for OPERATION_TIMEDOUT", function()
    local e = errors.from_transport({ code = "OPERATION_TIMEDOUT", curl_code = 28, message = "t" })
    assert.are.equal("timeout", e.kind)
    assert.is_true(e.retryable)
  end)

  it("marks exactly the transient curl errors retryable", function()
    for _, c in ipairs { "COULDNT_CONNECT", "COULDNT_RESOLVE_HOST", "OPERATION_TIMEDOUT", "SEND_ERROR",
      "RECV_ERROR", "GOT_NOTHING", "PARTIAL_FILE", "SSL_CONNECT_ERROR" } do
      assert.is_true(errors.from_transport({ code = c }).retryable, c)
    end
    for _, c in ipairs { "PEER_FAILED_VERIFICATION", "URL_MALFORMAT", "ABORTED_BY_CALLBACK" } do
      assert.is_false(errors.from_transport({ code = c }).retryable, c)
    end
  end)

  it("redacts the URL", function()
    assert.are.equal("http://h/x?signature=REDACTED",
      errors.from_transport({ code = "SEND_ERROR" }, "PUT", "http://a:b@h/x?signature=s").url)
  end)
end)

describe("tostring(ims.Error)", function()
  it("formats HTTP errors", function()
    local e = errors.from_response(resp(404, '{"error": {"message": "Image not found", "code": "IMG.0027"}}',
      { ["x-request-id"] = "7c1" }), "GET", "https://x/v2/images/abc")
    assert.are.equal("ims: GET https://x/v2/images/abc: 404 IMG.0027 Image not found (request 7c1)",
      tostring(e))
  end)

  it("leaves absent parts out without double spaces", function()
    local e = errors.from_response(resp(404, '{"message": "No image found with ID abc<br /><br />\\n",'
      .. ' "code": "404 Not Found", "title": "Not Found"}'), "GET", "http://127.0.0.1:9292/v2/images/abc")
    assert.are.equal("ims: GET http://127.0.0.1:9292/v2/images/abc: 404 No image found with ID abc",
      tostring(e))
  end)

  it("formats transport errors", function()
    local e = errors.from_transport({ code = "COULDNT_CONNECT", curl_code = 7,
      message = "Couldn't connect to server" }, "GET", "http://127.0.0.1:1/v2/images")
    assert.are.equal("ims: GET http://127.0.0.1:1/v2/images: COULDNT_CONNECT Couldn't connect to server",
      tostring(e))
  end)

  it("shows the status, not the kind, when there is one (an auth 401 reads like any 401)", function()
    local e = errors.from_response(resp(401, '{"error_code": "APIGW.0301", "error_msg": "bad signature"}'),
      "GET", "http://h/v2/images")
    e.kind = "auth"
    assert.are.equal("ims: GET http://h/v2/images: 401 APIGW.0301 bad signature", tostring(e))
  end)

  it("names the kind for other errors", function()
    assert.are.equal("ims: GET http://h/v2/images/a/file: checksum sha512 digest mismatch",
      tostring(errors.new { kind = "checksum", code = "sha512", message = "digest mismatch",
        method = "GET", url = "http://h/v2/images/a/file" }))
    assert.are.equal("ims: GET http://h/x: timeout OPERATION_TIMEDOUT Timeout was reached",
      tostring(errors.from_transport({ code = "OPERATION_TIMEDOUT", message = "Timeout was reached" },
        "GET", "http://h/x")))
    assert.are.equal("ims: job_failed IMG.0005 The ECS does not exist",
      tostring(errors.new { kind = "job_failed", code = "IMG.0005", message = "The ECS does not exist" }))
  end)

  it("omits method and url when absent", function()
    assert.are.equal("ims: decode 200 json: bad", tostring(errors.new { kind = "decode", status = 200,
      message = "json: bad" }))
    assert.are.equal("ims: usage", tostring(errors.new { kind = "usage" }))
  end)

  it("never shows secrets from the URL", function()
    local s = tostring(errors.from_transport({ code = "RECV_ERROR", message = "reset" }, "GET",
      "https://user:hunter2@h/v2/images?X-Auth-Token=s3cr3t"))
    assert.is_nil(s:find("hunter2", 1, true))
    assert.is_nil(s:find("s3cr3t", 1, true))
  end)
end)

describe("ims.Error hints", function()
  it("says what to do for common IMS, gateway and curl codes, outside tostring", function()
    local e = errors.from_response(resp(400, '{"error": {"code": "IMG.0057", "message": "bad file"}}'), "POST", U)
    assert.matches("check bucket:object", e.hint)
    assert.is_nil(tostring(e):find("bucket:object", 1, true))
    local gw = errors.from_response(resp(401, '{"error_code": "APIG.0301", "error_msg": "verify aksk signature fail"}'),
      "GET", U)
    assert.matches("AK/SK", gw.hint)
    assert.matches("rate_limit", errors.from_response(resp(429, ""), "GET", U).hint)
    assert.matches("ca_file", errors.from_transport({ code = "PEER_FAILED_VERIFICATION" }, "GET", U).hint)
    assert.matches("stall_timeout", errors.from_transport({ code = "OPERATION_TIMEDOUT" }, "GET", U).hint)
    assert.matches("check the id", errors.new { kind = "job_failed", code = "IMG.0027" }.hint)
    assert.matches("transfer again", errors.new { kind = "checksum", code = "sha512" }.hint)
    assert.matches("expired", errors.from_response(resp(401, ""), "GET", U).hint)
  end)

  it("gives none where it knows nothing useful, and keeps one given", function()
    assert.is_nil(errors.from_response(resp(500, "boom"), "GET", U).hint)
    assert.is_nil(errors.new { kind = "decode" }.hint)
    assert.equal("mine", errors.new { kind = "http", code = "IMG.0027", hint = "mine" }.hint)
  end)
end)
