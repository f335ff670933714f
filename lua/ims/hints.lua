-- ims.hints: one line of what to do about a failure, for the IMS, API gateway and curl codes a
-- workflow script meets most (shared/ims-api.md §1.3, the error-code table). errors.new puts it
-- in `err.hint`; `tostring(err)` stays the server's own words, and the `ims` command prints
-- the hint on a line of its own.
local BY_CODE = {
  ["APIGW.0301"] = "the gateway refused the credentials: check the AK/SK pair (or the token) and "
    .. "that project_id is a project of that account, in this region",
  ["APIGW.0308"] = "throttled by the API gateway: give ims.new a rate_limit, or start fewer calls at once",
  ["IMG.0008"] = "stop the ECS instance before making an image of it",
  ["IMG.0009"] = "an image with this name exists: choose another name, or use the one there",
  ["IMG.0015"] = "the private image quota is reached: delete images you no longer need",
  ["IMG.0027"] = "no such image in this project and region: check the id, project_id and region",
  ["IMG.0028"] = "the image is protected: update it with protected = false first",
  ["IMG.0035"] = "a PATCH replaced an attribute the image does not have: use op = \"add\"",
  ["IMG.0046"] = "the image is not usable yet (or any more): check its status",
  ["IMG.0057"] = "IMS could not read the object: check bucket:object, the file format, and that "
    .. "IMS may read the bucket",
  ["IMG.0058"] = "the bucket is in another region: use a bucket in the image's region",
  ["IMG.0060"] = "IMS flow control: too many tasks at once; wait for running jobs before starting more",
  ["IMG.0069"] = "IMS cannot access the bucket: check its name and policy",
  ["IMG.0070"] = "the export target exists: choose another object name or delete the object",
  ["IMG.0071"] = "this image cannot be exported (e.g. derived from a licensed public image)",
  ["IMG.0076"] = "an image cannot be shared with its own project",
  ["IMG.0088"] = "the shared-image quota is reached",
  ["IMG.0090"] = "the image is still being created: wait for its job first",
  ["IMG.0116"] = "too many tags on the image",
  ["IMG.0128"] = "a full-ECS image cannot be exported: export a system-disk image instead",
  ["IMG.0148"] = "the image is being exported: wait for that job",
  ["IMG.0160"] = "images of 128 GB or more export only with is_quick_export = true",
  CROSS_ORIGIN = "the server linked to another origin, which could steal credentials: check the "
    .. "endpoint (a proxy or load balancer rewriting links?)",
  COULDNT_RESOLVE_HOST = "the endpoint's host name does not resolve: check endpoint/region and DNS or proxy",
  COULDNT_CONNECT = "nothing accepted the connection: check the endpoint, its port, and the proxy",
  PEER_FAILED_VERIFICATION = "the server's certificate is not trusted: give ims.new a ca_file "
    .. "(a corporate CA) rather than verify = false",
  SSL_CONNECT_ERROR = "the TLS handshake failed: check the endpoint's scheme and port, and ca_file",
  OPERATION_TIMEDOUT = "no answer in time: raise timeout (API calls) or stall_timeout (transfers)",
}
BY_CODE["APIG.0301"] = BY_CODE["APIGW.0301"]
BY_CODE["APIG.0308"] = BY_CODE["APIGW.0308"]
BY_CODE["IMG.0144"] = BY_CODE["IMG.0027"] -- both say the image does not exist

return function(e)
  local hint = e.code and BY_CODE[e.code]
  if hint then return hint end
  if e.kind == "checksum" then
    return "the bytes differ from what Glance recorded: transfer again; if it persists, the stored "
      .. "image is damaged"
  end
  if e.status == 429 then return BY_CODE["APIGW.0308"] end
  if e.status == 404 then
    return "not found: check the id, and that project_id and the region are the ones it lives in"
  end
  if e.status == 401 then
    return "the credentials were refused: a token may have expired or been revoked"
  end
end
