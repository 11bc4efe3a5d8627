"""S3 probe for the data scenario: put/get/list with boto3, and a refused access.

Keys come from the environment (never arguments); prints one JSON object.
"""

import json
import os
import sys

import boto3
from botocore.client import Config
from botocore.exceptions import ClientError


def client(access, secret):
    return boto3.client(
        's3',
        endpoint_url=os.environ['S3_ENDPOINT'],
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name='us-east-1',
        config=Config(s3={'addressing_style': 'path'}, signature_version='s3v4'),
    )


def main():
    result = {}
    app = client(os.environ['APP_ACCESS_KEY'], os.environ['APP_SECRET_KEY'])
    admin = client(os.environ['ADMIN_ACCESS_KEY'], os.environ['ADMIN_SECRET_KEY'])
    body = b'selfhosted-ai data scenario probe'
    app.put_object(Bucket='langfuse', Key='probe/hello.txt', Body=body)
    result['get_matches'] = app.get_object(Bucket='langfuse', Key='probe/hello.txt')['Body'].read() == body
    listing = app.list_objects_v2(Bucket='langfuse', Prefix='probe/')
    result['listed'] = [item['Key'] for item in listing.get('Contents', [])]
    result['admin_buckets'] = sorted(b['Name'] for b in admin.list_buckets()['Buckets'])
    for action, call in (
        ('put_other', lambda: app.put_object(Bucket='n8n-data', Key='x', Body=b'x')),
        ('list_other', lambda: app.list_objects_v2(Bucket='n8n-data')),
    ):
        try:
            call()
            result[action] = 'allowed'
        except ClientError as error:
            result[action] = error.response['Error']['Code']
    try:
        client(os.environ['APP_ACCESS_KEY'], 'wrong-secret-key').list_objects_v2(Bucket='langfuse')
        result['wrong_key'] = 'allowed'
    except ClientError as error:
        result['wrong_key'] = error.response['Error']['Code']
    app.delete_object(Bucket='langfuse', Key='probe/hello.txt')
    json.dump(result, sys.stdout)


if __name__ == '__main__':
    main()
