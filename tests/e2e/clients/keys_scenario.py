# Driven by tests/e2e/serve-keys.test.ts: keys with empty segments (`a//b`, `/a`) and
# object metadata through `dv serve`, with Debian's boto3. Mode "write" stores and reads
# them back; mode "read" only lists and reads (a fresh clone serving the same version).
# Prints one JSON document of observations.
import hashlib, json, os, sys
import boto3
from botocore.config import Config

endpoint, bucket, mode = sys.argv[1:4]
cfg = Config(s3={"addressing_style": "path"}, signature_version="s3v4", retries={"max_attempts": 1})
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=cfg)
B = "staging/"
out = {}

def head(key):
    h = s3.head_object(Bucket=bucket, Key=key)
    return [h["ContentType"], h["Metadata"], h["ContentLength"], h["ETag"]]

if mode == "write":
    s3.put_object(Bucket=bucket, Key=B + "k//b", Body=b"empty segment\n", ContentType="text/x-dv", Metadata={"origin": "sensor-7"})
    s3.put_object(Bucket=bucket, Key=B + "/lead.csv", Body=b"lead\n", ContentType="text/plain")
    s3.put_object(Bucket=bucket, Key=B + "k/%", Body=b"percent\n")
    s3.put_object(Bucket=bucket, Key=B + "k/-x", Body=b"dash\n")
    s3.put_object(Bucket=bucket, Key=B + "m//", Body=b"")  # the marker of an empty directory named ""
    s3.put_object(Bucket=bucket, Key=B + "dirs/empty/", Body=b"")
    s3.put_object(Bucket=bucket, Key=B + "full/", Body=b"a dir/ key with content\n")  # stored as full/%
    up = s3.create_multipart_upload(Bucket=bucket, Key=B + "k///mp.bin", ContentType="application/x-mp", Metadata={"part": "1"})
    e = s3.upload_part(Bucket=bucket, Key=B + "k///mp.bin", UploadId=up["UploadId"], PartNumber=1, Body=b"mp\n")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key=B + "k///mp.bin", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    # S3's multipart ETag: the MD5 of the part MD5s, -N.
    parts = [os.urandom(5 << 20), os.urandom(1 << 20)]
    up = s3.create_multipart_upload(Bucket=bucket, Key=B + "e/parts.bin")
    sent = [{"PartNumber": i + 1, "ETag": s3.upload_part(Bucket=bucket, Key=B + "e/parts.bin", UploadId=up["UploadId"], PartNumber=i + 1, Body=p)["ETag"]}
            for i, p in enumerate(parts)]
    s3.complete_multipart_upload(Bucket=bucket, Key=B + "e/parts.bin", UploadId=up["UploadId"], MultipartUpload={"Parts": sent})
    out["parts_etag"] = '"%s-2"' % hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    s3.copy_object(Bucket=bucket, Key=B + "c//b", CopySource={"Bucket": bucket, "Key": B + "k//b"})
    s3.copy_object(Bucket=bucket, Key=B + "c//r", CopySource={"Bucket": bucket, "Key": B + "k//b"},
                   MetadataDirective="REPLACE", ContentType="text/plain", Metadata={"x": "y"})
    s3.delete_object(Bucket=bucket, Key=B + "k/-x")
    out["copied"] = head(B + "c//b")
    out["replaced"] = head(B + "c//r")
    out["multipart"] = head(B + "k///mp.bin")
    d = s3.list_objects_v2(Bucket=bucket, Prefix=B + "k/", Delimiter="/")
    out["delimited"] = [[o["Key"] for o in d.get("Contents", [])], [p["Prefix"] for p in d.get("CommonPrefixes", [])]]
    d = s3.list_objects_v2(Bucket=bucket, Prefix=B + "k//", Delimiter="/")
    out["delimited2"] = [[o["Key"] for o in d.get("Contents", [])], [p["Prefix"] for p in d.get("CommonPrefixes", [])]]

# Both modes: every key (v2 and v1 in pages of 2), bodies and headers.
out["keys"] = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=B).get("Contents", [])]
paged, marker = [], ""
while True:
    r = s3.list_objects(Bucket=bucket, Prefix=B, MaxKeys=2, Marker=marker)
    paged += [o["Key"] for o in r.get("Contents", [])]
    if not r["IsTruncated"]:
        break
    marker = paged[-1]
out["v1_paged"] = paged
out["got"] = s3.get_object(Bucket=bucket, Key=B + "k//b")["Body"].read().decode()
# Every object of the bucket (all refs): LIST, HEAD and GET agree on the ETag.
listed = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
out["heads"] = {k: head(k) for k in listed}
for k, etag in listed.items():
    g = s3.get_object(Bucket=bucket, Key=k)
    g["Body"].read()
    out["heads"][k].append(etag == out["heads"][k][3] == g["ETag"])
print(json.dumps(out))
