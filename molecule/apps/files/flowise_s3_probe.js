// With the Flowise container's own S3 settings (S3_* environment) and the S3 client its storage uses:
// put, list and read an object in its bucket, then try another bucket. Prints one JSON object.
const { S3Client, PutObjectCommand, ListObjectsV2Command, GetObjectCommand } = require(
  require.resolve('@aws-sdk/client-s3', { paths: ['/usr/local/lib/node_modules/flowise'] }));
const env = process.env;
const client = new S3Client({
  endpoint: env.S3_ENDPOINT_URL,
  region: env.S3_STORAGE_REGION,
  forcePathStyle: env.S3_FORCE_PATH_STYLE === 'true',
  credentials: { accessKeyId: env.S3_STORAGE_ACCESS_KEY_ID, secretAccessKey: env.S3_STORAGE_SECRET_ACCESS_KEY },
});
const Bucket = env.S3_STORAGE_BUCKET_NAME;
const Key = 'apps-scenario/probe.txt';
(async () => {
  const result = {};
  await client.send(new PutObjectCommand({ Bucket, Key, Body: 'written by the apps scenario' }));
  result.put = 'ok';
  const listed = await client.send(new ListObjectsV2Command({ Bucket, Prefix: 'apps-scenario/' }));
  result.listed = (listed.Contents || []).some((item) => item.Key === Key);
  result.read = await (await client.send(new GetObjectCommand({ Bucket, Key }))).Body.transformToString();
  try {
    await client.send(new PutObjectCommand({ Bucket: 'other-app', Key, Body: 'must be refused' }));
    result.other_bucket = 'written';
  } catch (error) {
    result.other_bucket = error.name;
  }
  console.log(JSON.stringify(result));
})().catch((error) => { console.error(error); process.exit(1); });
