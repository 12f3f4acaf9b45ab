#!/usr/bin/env python3
"""Download the official network weights into SegFuse's models folder, where a network exists.

    python install/fetch_weights.py [NAME ...]     (names from 'segfuse models list'; default: all)

Files with a direct official link are downloaded and checked; for the others (MODNet's are in a
shared-drive folder) it prints where to get them and how to import them.
"""

import sys

from segfuse.models.fetch import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
