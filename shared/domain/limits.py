"""Every limit the service enforces, in one place (Custom Vision's documented limits, SPEC §6).

Sizes are in bytes, dimensions in pixels.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = [
    "ACCEPTED_IMAGE_FORMATS",
    "MAX_ASPECT_RATIO",
    "MAX_BATCH_IMAGES",
    "MAX_BATCH_TAGS",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_TERMS",
    "MAX_IMAGE_BYTES_PREDICTION",
    "MAX_IMAGE_BYTES_TRAINING",
    "MAX_IMAGE_IDS_QUERY",
    "MAX_IMAGE_PIXELS",
    "MAX_IMAGE_SIDE",
    "MAX_INT32",
    "DEFAULT_DECODE_MEMORY_BYTES",
    "DEFAULT_MAX_FILE_BATCH_BODY_BYTES",
    "DEFAULT_MAX_JSON_BODY_BYTES",
    "DEFAULT_MAX_HEADER_BYTES",
    "DEFAULT_URL_DOWNLOAD_THREADS",
    "EXPORT_STALL_SECONDS",
    "IMPORT_BASE_MS",
    "IMPORT_MS_PER_IMAGE",
    "IMPORT_PACKAGE_TIMEOUT_SECONDS",
    "MAX_PROJECT_PACKAGE_BYTES",
    "MAX_ITERATIONS_PER_PROJECT",
    "MAX_METADATA_KEY_LENGTH",
    "MAX_METADATA_PAIRS",
    "MAX_METADATA_VALUE_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_RATE_LIMITED_KEYS",
    "MAX_REGION_BATCH",
    "MAX_REGIONS_PER_IMAGE",
    "MAX_TAGS_PER_IMAGE",
    "MAX_TAGS_PER_PROJECT",
    "MAX_TAKE",
    "MIN_IMAGES_PER_TAG_CLASSIFICATION",
    "MIN_IMAGES_PER_TAG_DETECTION",
    "RESULT_RETENTION",
    "DEFAULT_TAKE",
    "URL_FETCH_MAX_REDIRECTS",
    "URL_FETCH_TIMEOUT_SECONDS",
]

MAX_IMAGE_BYTES_TRAINING = 6 * 1024 * 1024
MAX_IMAGE_BYTES_PREDICTION = 4 * 1024 * 1024
MAX_IMAGE_SIDE = 10_240
MAX_ASPECT_RATIO = 25.0
# A decompression-bomb guard: refuse before decoding when the header announces more pixels than
# this (a 10,240 x 6,400 photo, already far above what training resizes to).
MAX_IMAGE_PIXELS = 65_536_000
ACCEPTED_IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "GIF")

MAX_BATCH_IMAGES = 64
MAX_BATCH_TAGS = 20
MAX_REGION_BATCH = 64
MAX_IMAGE_IDS_QUERY = 256
MAX_TAKE = 256
DEFAULT_TAKE = 50
# Custom Vision's integer parameters are Int32: a larger `skip` (or budget) is a 400 there, not a wrap.
MAX_INT32 = 2**31 - 1
# `$filter`: at most this many `key eq 'value'` terms (as the store sees them, after `or` is
# distributed over `and`), nested at most this deep; a longer filter is a 400, never a huge query.
MAX_FILTER_TERMS = 64
MAX_FILTER_DEPTH = 16

MAX_TAGS_PER_PROJECT = 500
MAX_TAGS_PER_IMAGE = 100
MAX_REGIONS_PER_IMAGE = 300

MAX_ITERATIONS_PER_PROJECT = 20
MIN_IMAGES_PER_TAG_CLASSIFICATION = 5
MIN_IMAGES_PER_TAG_DETECTION = 15

MAX_NAME_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 1024

MAX_METADATA_PAIRS = 10
MAX_METADATA_KEY_LENGTH = 128
MAX_METADATA_VALUE_LENGTH = 256

# Stored predictions and Smart Labeler suggestions are kept this long.
RESULT_RETENTION = timedelta(days=30)

# Rate-limit buckets kept per API in one process; past it the least recently used key is forgotten
# (and starts full again).
MAX_RATE_LIMITED_KEYS = 10_000

URL_FETCH_TIMEOUT_SECONDS = 10.0
URL_FETCH_MAX_REDIRECTS = 3

# Bounded resources (defaults of the CVSTUDIO_* settings that can change them):
# decoded pixels in flight, all requests together (a max-pixel image decodes to 262 MB);
DEFAULT_DECODE_MEMORY_BYTES = 512 * 1024 * 1024
# a JSON body (every request but the streamed image uploads, which have their per-image limits);
DEFAULT_MAX_JSON_BODY_BYTES = 1024 * 1024
# CreateImagesFromFiles: a full batch of base64 training images, and room for the rest of the JSON;
DEFAULT_MAX_FILE_BATCH_BODY_BYTES = MAX_BATCH_IMAGES * 4 * -(-MAX_IMAGE_BYTES_TRAINING // 3) + 1024 * 1024
# request headers together (larger: 431), as Azure Functions' host allows;
DEFAULT_MAX_HEADER_BYTES = 32 * 1024
# URL downloads at once, on threads of their own (the requests that wait for them hold none).
DEFAULT_URL_DOWNLOAD_THREADS = 16

# An iteration export still ``Exporting`` this long after its packaging began is reported ``Failed``
# (its exporter died: a server stopped, a killed job); exports take seconds to a few minutes.
EXPORT_STALL_SECONDS = 15 * 60

# Project export / import (``export_project``'s package, ``estimatedImportTimeInMS``):
# the package of a 100,000-image project (Custom Vision's S0 limit) is about 50 MB of JSON;
MAX_PROJECT_PACKAGE_BYTES = 128 * 1024 * 1024
# an import's fixed cost (the token's check, the package, the tags) and its cost per image, measured
# between two `cvstudio serve` on one 2-core machine over loopback (the detection quickstart: 40 photos
# of ~20 KB with boxes, 16 download threads): 5-8 ms an image, ~15 ms to answer the import request.
# Bytes over a real network add their transfer time, which no constant knows (Custom Vision says the
# same of its estimate).
IMPORT_BASE_MS = 100
IMPORT_MS_PER_IMAGE = 8
# The package is one JSON document: read within this (10 s suits one image, not 50 MB of JSON).
IMPORT_PACKAGE_TIMEOUT_SECONDS = 120.0
# An import whose progress stood this long has lost its server (a chunk of downloads records progress
# within seconds): another server, or Azure's 5-minute timer (a ResumeImport message), goes on with it.
IMPORT_QUIET_SECONDS = 120.0
