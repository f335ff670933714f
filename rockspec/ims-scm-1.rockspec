rockspec_format = "3.0"
package = "ims"
version = "scm-1"
source = { url = "git+https://example.invalid/lua-ims.git" }
description = {
  summary = "Lua 5.4 SDK for Huawei Cloud IMS and OpenStack Glance v2, with a C core on libcurl",
  detailed = [[
    Streams image uploads and downloads in constant memory with digests computed on the fly,
    pages listings, shares images between projects and reports failures as error objects.
  ]],
  license = "MIT",
}
dependencies = { "lua >= 5.4, < 5.5", "lua-cjson >= 2.1.0" }
external_dependencies = {
  CURL = { header = "curl/curl.h", library = "curl" },
  OPENSSL = { header = "openssl/evp.h", library = "crypto" },
}
build = {
  type = "builtin",
  modules = {
    ["ims.core"] = {
      sources = { "src/core.c", "src/engine.c", "src/request.c", "src/headers.c",
        "src/result.c", "src/transfer.c", "src/digest.c", "src/hasher.c", "src/sign.c",
        "src/sign_obs.c" },
      libraries = { "curl", "crypto", "m", "pthread" },
      incdirs = { "$(CURL_INCDIR)", "$(OPENSSL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)", "$(OPENSSL_LIBDIR)" },
      defines = { "_POSIX_C_SOURCE=200809L" },
    },
    ["ims"] = "lua/ims/init.lua",
    ["ims.client"] = "lua/ims/client.lua",
    ["ims.auth"] = "lua/ims/auth.lua",
    ["ims.engine"] = "lua/ims/engine.lua",
    ["ims.native"] = "lua/ims/native.lua",
    ["ims.policy"] = "lua/ims/policy.lua",
    ["ims.jobs"] = "lua/ims/jobs.lua",
    ["ims.cloudimages"] = "lua/ims/cloudimages.lua",
    ["ims.cloudimages.base"] = "lua/ims/cloudimages/base.lua",
    ["ims.cloudimages.copy"] = "lua/ims/cloudimages/copy.lua",
    ["ims.cloudimages.info"] = "lua/ims/cloudimages/info.lua",
    ["ims.cloudimages.members"] = "lua/ims/cloudimages/members.lua",
    ["ims.cloudimages.tags"] = "lua/ims/cloudimages/tags.lua",
    ["ims.cloudimages.replicate"] = "lua/ims/cloudimages/replicate.lua",
    ["ims.cli"] = "lua/ims/cli.lua",
    ["ims.cli.commands"] = "lua/ims/cli/commands.lua",
    ["ims.cloudimages.importfile"] = "lua/ims/cloudimages/importfile.lua",
    ["ims.diskfile"] = "lua/ims/diskfile.lua",
    ["ims.obs"] = "lua/ims/obs.lua",
    ["ims.partfile"] = "lua/ims/partfile.lua",
    ["ims.obs.upload"] = "lua/ims/obs/upload.lua",
    ["ims.xml"] = "lua/ims/xml.lua",
    ["ims.images"] = "lua/ims/images.lua",
    ["ims.images.base"] = "lua/ims/images/base.lua",
    ["ims.images.data"] = "lua/ims/images/data.lua",
    ["ims.images.import"] = "lua/ims/images/import.lua",
    ["ims.images.members"] = "lua/ims/images/members.lua",
    ["ims.images.objects"] = "lua/ims/images/objects.lua",
    ["ims.verb"] = "lua/ims/verb.lua",
    ["ims.pager"] = "lua/ims/pager.lua",
    ["ims.patch"] = "lua/ims/patch.lua",
    ["ims.utc"] = "lua/ims/utc.lua",
    ["ims.cohort"] = "lua/ims/cohort.lua",
    ["ims.hints"] = "lua/ims/hints.lua",
    ["ims.journal"] = "lua/ims/journal.lua",
    ["ims.errors"] = "lua/ims/errors.lua",
    ["ims.json"] = "lua/ims/json.lua",
    ["ims.url"] = "lua/ims/url.lua",
    ["ims.validate"] = "lua/ims/validate.lua",
  },
  install = { bin = { ims = "bin/ims" } },
  copy_directories = { "examples", "docs" },
}
