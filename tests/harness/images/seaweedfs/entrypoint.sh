#!/usr/bin/env bash
# The official SeaweedFS image's entrypoint (docker/entrypoint.sh), re-implemented.
isArgPassed() {
  arg="$1"; shift
  for passed in "$@"; do case "$passed" in "-$arg"|"--$arg"|"-$arg="*|"--$arg="*) return 0 ;; esac; done
  return 1
}
case "$1" in
  master)
    ARGS=(-mdir=/data -volumePreallocate -volumeSizeLimitMB=1024)
    shift; exec /usr/bin/weed -logtostderr=true master "${ARGS[@]}" "$@" ;;
  volume)
    ARGS=(-dir=/data -max=0)
    isArgPassed "max" "$@" && ARGS=(-dir=/data)
    shift; exec /usr/bin/weed -logtostderr=true volume "${ARGS[@]}" "$@" ;;
  server)
    ARGS=(-dir=/data -volume.max=0 -master.volumePreallocate -master.volumeSizeLimitMB=1024)
    isArgPassed "volume.max" "$@" && ARGS=(-dir=/data -master.volumePreallocate -master.volumeSizeLimitMB=1024)
    shift; exec /usr/bin/weed -logtostderr=true server "${ARGS[@]}" "$@" ;;
  filer)
    shift; exec /usr/bin/weed -logtostderr=true filer "$@" ;;
  s3)
    ARGS=(-domainName="$S3_DOMAIN_NAME" -key.file="$S3_KEY_FILE" -cert.file="$S3_CERT_FILE")
    shift; exec /usr/bin/weed -logtostderr=true s3 "${ARGS[@]}" "$@" ;;
  shell)
    shift; exec /usr/bin/weed shell "$@" ;;
  *)
    exec /usr/bin/weed "$@" ;;
esac
