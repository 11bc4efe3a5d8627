"""S3 probe of the tenant checks: tenant A on its own bucket and on tenant B's.

Keys come from the environment (never arguments); prints one JSON object.
"""

import json
import os
import sys

import boto3
from botocore.client import Config
from botocore.exceptions import ClientError


def main():
    client = boto3.client(
        's3',
        endpoint_url=os.environ['S3_ENDPOINT'],
        aws_access_key_id=os.environ['TENANT_ACCESS_KEY'],
        aws_secret_access_key=os.environ['TENANT_SECRET_KEY'],
        region_name='us-east-1',
        config=Config(s3={'addressing_style': 'path'}, signature_version='s3v4'),
    )
    own, other = os.environ['OWN_BUCKET'], os.environ['OTHER_BUCKET']
    result = {}
    for action, call, kwargs in (
        ('put_own', client.put_object, dict(Bucket=own, Key='probe.txt', Body=b'tenant probe')),
        ('get_own', client.get_object, dict(Bucket=own, Key='probe.txt')),
        ('list_own', client.list_objects_v2, dict(Bucket=own)),
        ('delete_own', client.delete_object, dict(Bucket=own, Key='probe.txt')),
        ('put_other', client.put_object, dict(Bucket=other, Key='probe.txt', Body=b'x')),
        ('list_other', client.list_objects_v2, dict(Bucket=other)),
    ):
        try:
            call(**kwargs)
            result[action] = 'allowed'
        except ClientError as error:
            result[action] = error.response['Error']['Code']
    json.dump(result, sys.stdout)


if __name__ == '__main__':
    main()
