"""Search a SearXNG with its limiter on, first as a script (no browser headers), then as a browser.

Run inside a container of the stack network (python3 -c); prints the two HTTP status codes.
"""

import sys
import urllib.error
import urllib.request

URL = sys.argv[1] if len(sys.argv) > 1 else 'http://searxng-public:8080/search?q=limited'
BROWSER = {
    'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
    'Accept': 'text/html,application/xhtml+xml',
    'Accept-Language': 'en-US,en;q=0.5',
    'Accept-Encoding': 'gzip, deflate',
}


def status(headers):
    try:
        with urllib.request.urlopen(urllib.request.Request(URL, headers=headers), timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


print(status({}), status(BROWSER))
