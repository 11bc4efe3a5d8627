"""Prints the HARNESS_IMAGES default for this machine: 0 when Docker Hub answers (use the
official images), 1 when it does not (use the images the harness builds). Standard library only,
because the Makefile asks before the virtualenv exists."""

import urllib.error
import urllib.request

try:
    urllib.request.urlopen('https://registry-1.docker.io/v2/', timeout=5)
    print(0)
except urllib.error.HTTPError as answer:
    # Docker Hub answers an anonymous /v2/ with 401 and a token challenge.
    print(0 if answer.code == 401 and answer.headers.get('Www-Authenticate') else 1)
except (urllib.error.URLError, OSError):
    print(1)
