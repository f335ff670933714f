-- client.cloudimages, copies: quick import of a big RAW/ZVHD2 file and the in-region copy.
-- Each call is a row for ims.verb; both have a /v2.1 "safe mode" twin.

--- The IMS-native API: quick import and copies.
-- @module ims.cloudimages
local base = require "ims.cloudimages.base"
local verb = require "ims.verb"

local Cloud = base.Cloud -- ims.CloudImages
local svc, schema, R = base.svc, base.schema, base.R

-- POST /v2/cloudimages/quickimport/action: QuickImportImageByFileRequestBody
local QUICK = schema(base.TAGS, { name = R "string", os_version = R "string",
  image_url = R "string", min_disk = R "integer", description = "string",
  license_type = { "platform", "byol" }, type = { "ECS", "BMS", "DataImage" },
  enterprise_project_id = "string", architecture = { "x86", "arm" },
  hw_firmware_type = { "bios", "uefi" }, os_type = { "Linux", "Windows" } })
base.QUICK = QUICK -- (import_file checks a body against it before uploading)
-- POST /v1/cloudimages/{id}/copy: CopyImageInRegionRequestBody
local COPY = { name = R "string", cmk_id = "string", description = "string",
  enterprise_project_id = "string" }

--- Quick import (`POST /v2/cloudimages/quickimport/action`): an image from a RAW (with its
-- bitmap file) or ZVHD2 file in a bucket, up to 1 TiB, without the conversion a plain import
-- does.
-- @function CloudImages:quick_import
-- @tparam table body `name`, `os_version` (one of `os_versions()`), `image_url`
-- (`"bucket:object"`), `min_disk` (1–1024), and optionally `type` (`ECS`, `BMS`, `DataImage`),
-- `os_type` (`Linux`, `Windows`), `architecture` (`x86`, `arm`), `hw_firmware_type` (`bios`,
-- `uefi`), `license_type` (`platform`, `byol`), `description`, `enterprise_project_id`, and
-- `tags` or `image_tags`
-- @tparam[opt] table opts `safe_mode = true` sends the `/v2.1` twin
-- @treturn[1] ims.jobs.Job the job (its image in `job:image()` once it succeeds)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`; `decode`
-- when the answer has no `job_id`)
-- @raise on misuse: a missing required field, an unknown field or a wrong type, a value outside
-- its enum, `min_disk` outside 1–1024, an `image_url` that is not `"bucket:object"`, a closed
-- client
-- @usage
-- local job = assert(client.cloudimages:quick_import { name = "big", min_disk = 200,
--   os_version = "Ubuntu 22.04 server 64bit", image_url = "images:big.zvhd2" })
-- local image = assert(assert(job:wait()):image())
Cloud.quick_import = verb.make(svc, { name = "quick_import", method = "POST",
  path = base.twin { "v2", "cloudimages", "quickimport", "action" }, args = { "body", "opts" },
  kinds = { body = "table", opts = "any" }, wrap = "job",
  check = function(fname, a, level)
    a.safe = base.safe_mode(fname, a.opts, level)
    a.body = base.body(fname, a.body, QUICK, level)
    base.range(fname, "min_disk", a.body.min_disk, 1, 1024, level)
  end,
  json = function(a) return a.body end })

--- Copies an image within its region (`POST /v1/cloudimages/{id}/copy`): a new private image
-- with the same bytes, optionally encrypted with another key.
-- @function CloudImages:copy
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam table body `name`, and optionally `description`, `cmk_id` (a KMS key: the copy is
-- encrypted with it), `enterprise_project_id`
-- @tparam[opt] table opts `safe_mode = true` sends the `/v2.1` twin
-- @treturn[1] ims.jobs.Job the job (the new image in `job:image()` once it succeeds)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`; `decode`
-- when the answer has no `job_id`)
-- @raise on misuse: a missing `name`, an unknown field or a wrong type, an image that is
-- neither a non-empty id nor a table with one, a closed client
-- @usage
-- local job = assert(client.cloudimages:copy(image, { name = "web-copy" }))
-- local copy = assert(assert(job:wait()):image())
Cloud.copy = verb.make(svc, { name = "copy", method = "POST",
  path = base.twin { "v1", "cloudimages", "{image}", "copy" }, args = { "image", "body", "opts" },
  kinds = { body = "table", opts = "any" }, wrap = "job",
  check = function(fname, a, level)
    a.safe = base.safe_mode(fname, a.opts, level)
    a.body = base.body(fname, a.body, COPY, level)
  end,
  json = function(a) return a.body end })

-- POST /v1/cloudimages/{id}/cross_region_copy: CopyImageCrossRegionRequestBody
local CROSS = { name = R "string", region = R "string", project_name = R "string",
  agency_name = R "string", description = "string", vault_id = "string" }

--- Copies an image to another region (`POST /v1/cloudimages/{id}/cross_region_copy`). The job
-- is polled in this (the source) region; its `image_id` names the new image in the target
-- region, owned by the project named `project_name` there.
-- @function CloudImages:copy_cross_region
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam table body `name`, `region` (the target region), `project_name` (the project there),
-- `agency_name` (the IAM agency that lets IMS act there), and optionally `description`,
-- `vault_id` (for a full-ECS image)
-- @treturn[1] ims.jobs.Job the job (`job.image_id`: the image in the target region)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`: `IMG.0145` no such project there,
-- `IMG.0179` the agency, `IMG.0197` an encrypted image, `IMG.0060` too many copies at once (the
-- call waits for room while its timeout allows); `transport`, `timeout`, `auth`, `decode`)
-- @raise on misuse: a missing required field, an unknown field or a wrong type, an image that is
-- neither a non-empty id nor a table with one, a closed client
-- @usage
-- local job = assert(client.cloudimages:copy_cross_region(image, { name = "web", region =
--   "cn-south-1", project_name = "cn-south-1", agency_name = "ims_admin_agency" }))
-- print(assert(job:wait()).image_id)   -- the image in cn-south-1
Cloud.copy_cross_region = verb.make(svc, { name = "copy_cross_region", method = "POST",
  path = { "v1", "cloudimages", "{image}", "cross_region_copy" }, args = { "image", "body" },
  kinds = { body = "table" }, wrap = "job",
  check = function(fname, a, level) a.body = base.body(fname, a.body, CROSS, level) end,
  json = function(a) return a.body end })
