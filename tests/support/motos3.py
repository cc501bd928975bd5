"""A real S3 implementation on loopback for backup tests: moto's server mode, driven with
boto3 exactly as the Panel's S3 backup adapter drives AWS (panel-contract.md
``GET /api/remote/backups/{backup}``: CreateMultipartUpload, presigned UploadPart URLs,
CompleteMultipartUpload with the parts the node reported or AbortMultipartUpload; a
presigned GetObject URL for a restore).

It has the interface of ``tests.support.fakes3.FakeS3`` so the fake Panel can use either:
``FakeS3`` for fault injection, this one for S3's own checks (ETags, part sizes, ordering).
"""

import boto3
import botocore.config
from moto.server import ThreadedMotoServer

from tests.support.fakes3 import S3Error
from tests.support.ports import free_port

BUCKET = "backups"
REGION = "us-east-1"
CONTENT_TYPE = "application/x-gzip"
PRESIGNED_LIFETIME = 3600


class MotoS3:
    def __init__(self):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.client = None

    def start(self):
        self._server.start()
        self.client = boto3.client(
            "s3", endpoint_url=self.url, region_name=REGION, aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=botocore.config.Config(s3={"addressing_style": "path"},
                                          signature_version="s3v4"))
        self.client.create_bucket(Bucket=BUCKET)
        return self

    def stop(self):
        self._server.stop()

    # -- what the Panel does with S3 ----------------------------------------------------

    def create_upload(self, key):
        answer = self.client.create_multipart_upload(Bucket=BUCKET, Key=key,
                                                     ContentType=CONTENT_TYPE)
        return "%s|%s" % (key, answer["UploadId"])

    def part_urls(self, upload, count):
        key, upload_id = upload.split("|", 1)
        return [self.client.generate_presigned_url(
            "upload_part", ExpiresIn=PRESIGNED_LIFETIME,
            Params={"Bucket": BUCKET, "Key": key, "UploadId": upload_id, "PartNumber": number})
            for number in range(1, count + 1)]

    def complete(self, upload, parts=None):
        key, upload_id = upload.split("|", 1)
        if parts is None:
            listed = self.client.list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id)
            parts = [{"etag": p["ETag"], "part_number": p["PartNumber"]}
                     for p in listed.get("Parts", [])]
        try:
            self.client.complete_multipart_upload(
                Bucket=BUCKET, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": [{"ETag": p["etag"], "PartNumber": int(p["part_number"])}
                                           for p in parts]})
        except self.client.exceptions.ClientError as e:
            raise S3Error(str(e)) from e

    def abort(self, upload):
        key, upload_id = upload.split("|", 1)
        self.client.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id)

    def put_object(self, key, data, content_type=CONTENT_TYPE):
        self.client.put_object(Bucket=BUCKET, Key=key, Body=bytes(data), ContentType=content_type)

    def get_object(self, key):
        return self.client.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def download_url(self, key):
        """The presigned GetObject URL the Panel sends as a restore's ``download_url``."""
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=PRESIGNED_LIFETIME)
