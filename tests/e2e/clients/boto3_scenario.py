# Driven by tests/e2e/s3clients.test.ts: what a boto3 user does against `dv serve`
# (Debian's python3-boto3). Prints one JSON document of observations for the test.
import hashlib, json, os, sys, urllib.request
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

endpoint, bucket, prefix, work = sys.argv[1:5]
cfg = Config(s3={"addressing_style": "path"}, signature_version="s3v4", retries={"max_attempts": 1})
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=cfg)
out = {}

# Paginators: list_objects_v2 in pages of 7.
pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "aws/", PaginationConfig={"PageSize": 7})
keys = []
npages = 0
for page in pages:
    npages += 1
    keys += [o["Key"] for o in page.get("Contents", [])]
out["paged_keys"] = keys
out["pages"] = npages

# TransferManager: multipart upload and (ranged, parallel) download.
big = os.path.join(work, "big.bin")
tc = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024, max_concurrency=4)
s3.upload_file(big, bucket, prefix + "tm/big.bin", Config=tc)
head = s3.head_object(Bucket=bucket, Key=prefix + "tm/big.bin")
out["multipart_etag"] = head["ETag"]
back = os.path.join(work, "big.back")
s3.download_file(bucket, prefix + "tm/big.bin", back, Config=tc)
out["download_sha256"] = hashlib.sha256(open(back, "rb").read()).hexdigest()
part = s3.get_object(Bucket=bucket, Key=prefix + "tm/big.bin", PartNumber=2)
out["part2"] = {"status": part["ResponseMetadata"]["HTTPStatusCode"], "count": part.get("PartsCount"),
                "length": part["ContentLength"], "etag": part["ETag"]}
listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "tm/")["Contents"][0]
out["listed_etag"] = listed["ETag"]

# Presigned PUT and GET (SigV4 query strings).
put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": prefix + "presigned.txt"}, ExpiresIn=600)
urllib.request.urlopen(urllib.request.Request(put_url, data=b"put by url\n", method="PUT")).read()
get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": prefix + "presigned.txt"}, ExpiresIn=600)
out["presigned_get"] = urllib.request.urlopen(get_url).read().decode()

# Flexible checksums: sent on upload, returned on the response and on HEAD with ChecksumMode.
r = s3.put_object(Bucket=bucket, Key=prefix + "sum.txt", Body=b"checked\n", ChecksumAlgorithm="SHA256")
out["put_checksum"] = r.get("ChecksumSHA256")
h = s3.head_object(Bucket=bucket, Key=prefix + "sum.txt", ChecksumMode="ENABLED")
out["head_checksum"] = h.get("ChecksumSHA256")
out["put_etag"] = r["ETag"]
print(json.dumps(out))
