"""Backup probe of the data scenario: writes objects into a bucket (`write`), or prints their digests (`read`).

Keys come from the environment (never arguments); prints one JSON object {key: sha256}.
"""

import hashlib
import json
import os
import sys

import boto3
from botocore.client import Config


def main():
    client = boto3.client(
        's3',
        endpoint_url=os.environ['S3_ENDPOINT'],
        aws_access_key_id=os.environ['S3_ACCESS_KEY'],
        aws_secret_access_key=os.environ['S3_SECRET_KEY'],
        region_name='us-east-1',
        config=Config(s3={'addressing_style': 'path'}, signature_version='s3v4'),
    )
    bucket = os.environ['BUCKET']
    if sys.argv[1] == 'write':
        for number in range(5):
            client.put_object(Bucket=bucket, Key=f'backup-probe/object-{number}.bin', Body=os.urandom(200_000))
    digests = {}
    for page in client.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix='backup-probe/'):
        for entry in page.get('Contents', []):
            body = client.get_object(Bucket=bucket, Key=entry['Key'])['Body'].read()
            digests[entry['Key']] = hashlib.sha256(body).hexdigest()
    json.dump(digests, sys.stdout, sort_keys=True)


if __name__ == '__main__':
    main()
