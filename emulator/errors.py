"""Error bodies the emulator answers with (ims-api.md §1.3): IMS `{"error": {code, message}}` and
API Gateway `{"error_code", "error_msg", "request_id"}`."""

# Default messages for the IMS codes the emulator uses (wording after the IMS error-code table).
MESSAGES = {
    "IMG.0001": "The request message format is invalid.",
    "IMG.0002": "The image name contains more than 128 characters.",
    "IMG.0003": "The image name format is invalid.",
    "IMG.0004": "The description contains more than 1024 characters.",
    "IMG.0005": "The ECS does not exist.",
    "IMG.0007": "The request body is empty.",
    "IMG.0008": "The ECS cannot be used to create images because it is not in stopped state.",
    "IMG.0012": "The ECS ID is not specified.",
    "IMG.0013": "The image name is not specified.",
    "IMG.0014": "An exception occurred when IaaS OpenStack was executing the task.",
    "IMG.0015": "The number of private images has reached the quota.",
    "IMG.0017": "The URL format is incorrect.",
    "IMG.0023": "An exception occurred when querying the job.",
    "IMG.0024": "The imagetype is invalid.",
    "IMG.0027": "The image ID does not exist.",
    "IMG.0035": "Attribute conflict: the attribute to modify does not exist.",
    "IMG.0041": "The authorized account is empty.",
    "IMG.0046": "The image is unavailable.",
    "IMG.0047": "Only the image owner can perform this operation.",
    "IMG.0055": "The memory or disk size is invalid.",
    "IMG.0056": "The OS version is invalid.",
    "IMG.0057": "The image file is empty, does not exist, has an invalid format, or you have "
                "no permission.",
    "IMG.0058": "The OBS bucket is not in the region of the image.",
    "IMG.0059": "The image file size exceeds the maximum.",
    "IMG.0060": "The number of tasks exceeds the flow control limit.",
    "IMG.0066": "The image ID is incorrect.",
    "IMG.0067": "The project ID is incorrect.",
    "IMG.0069": "The bucket is not accessible.",
    "IMG.0070": "The exported file already exists.",
    "IMG.0072": "The file format is not supported.",
    "IMG.0076": "An image cannot be shared with its own project.",
    "IMG.0089": "A public image cannot be shared.",
    "IMG.0096": "The new key must differ from the image's key.",
    "IMG.0098": "An encrypted image cannot be shared.",
    "IMG.0112": "Adding the tenant failed.",
    "IMG.0113": "Deleting the tenant failed.",
    "IMG.0114": "Querying the tenant failed.",
    "IMG.0115": "The tag is invalid.",
    "IMG.0116": "The number of image tags exceeds the quota.",
    "IMG.0122": "The OS type is invalid.",
    "IMG.0128": "A full-ECS image cannot be exported.",
    "IMG.0130": "A full-ECS image cannot be exported or replicated.",
    "IMG.0135": "A full-ECS image cannot be shared.",
    "IMG.0141": "hw_firmware_type must be uefi or bios.",
    "IMG.0145": "The project name is incorrect.",
    "IMG.0148": "The image is being exported.",
    "IMG.0179": "The token of the source image agency is invalid.",
    "IMG.0197": "Failed to replicate the image because it is encrypted using KMS.",
    "IMG.0212": "The architecture must be x86 or arm.",
    "IMG.1075": "Failed to register the image file.",
}


class ImsError(Exception):
    """An IMS-native failure answered as `{"error": {"code", "message"}}` (400 unless told)."""

    def __init__(self, code, message=None, status=400):
        self.code = code
        self.message = message or MESSAGES.get(code, "Request error.")
        self.status = status
        super().__init__("%s %s" % (code, self.message))

    def body(self):
        return ims_body(self.code, self.message)


def ims_body(code, message):
    return {"error": {"code": code, "message": message}}


def apigw_body(code, message, request_id):
    return {"error_code": code, "error_msg": message, "request_id": request_id}


# API Gateway answers for requests it turns away before they reach IMS.
NO_API = ("APIGW.0101", "The API does not exist or has not been published in the environment.")
THROTTLED = ("APIGW.0308", "The throttling threshold has been reached: policy user over ratelimit,"
                           "limit:%d,time:1 minute")
