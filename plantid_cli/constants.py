"""Every shared constant, environment name and choice list, once (as pyinaturalist's constants).

Why one module: a choice list written twice drifts (the parser accepts what the validator then
refuses), and an environment name spelled in two places is one rename away from being ignored.
Modules import these names from here; `config.Settings` keeps only its field defaults. Plain
values only, stdlib-free: importing this costs nothing at start-up.
"""

from __future__ import annotations

APP_NAME = "plantid"

# ----- services and their default endpoints -----
DEFAULT_API_URL = "https://plant.id/api/v3"
DEFAULT_PLANTNET_URL = "https://my-api.plantnet.org/v2"
#: The services a key, a breaker or a credits state belongs to.
PROVIDERS = ("plantid", "plantnet")
#: `--provider`: one service, Pl@ntNet when Plant.id fails (auto), or both combined.
PROVIDER_MODES = (*PROVIDERS, "auto", "both")
#: How a service is named to people (table, CSV, sidecars, report).
PROVIDER_LABELS = {"plantid": "Plant.id", "plantnet": "Pl@ntNet"}
#: `--organ`: what the photos show (Pl@ntNet's organs; auto lets the service guess).
ORGANS = ("leaf", "flower", "fruit", "bark", "auto")
#: The Plant.id `details` asked for by default: what a suggestion's own keys need (README
#: "Output"). `--details` adds to these; what it adds lands under a suggestion's `details`.
DEFAULT_DETAILS = (
    "common_names",
    "taxonomy",
    "gbif_id",
    "url",
    "rank",
    "inaturalist_id",
    "synonyms",
    "name_authority",
)
#: `--classification-level` (Plant.id's body `classification_level`): species (the service's
#: default), genus, or all (infraspecific taxa and cultivars too, each with its `rank`).
CLASSIFICATION_LEVELS = ("species", "genus", "all")
#: At most this many languages per request (`--language en,de,fr`; the service's limit).
MAX_LANGUAGES = 3
#: The disease details asked for by default (`plantid health`, `identify --health`); `--details`
#: on `plantid health` (e.g. treatment,description,cause) replaces them.
DEFAULT_HEALTH_DETAILS = ("local_name", "common_names")
#: What a run does with each unit: identify it, or assess its health (`plantid health`).
TASKS = ("identify", "health")
#: --group-by values: "folder" makes each folder's photos (1-5) one specimen.
GROUP_BY = ("folder",)
#: What Plant.id charges (kindwise.com/faq, "Credits and pricing"): an identification 1 credit,
#: health assessment another one, a knowledge-base entry 0.5; a knowledge-base search, a
#: re-read by token and usage_info nothing.
CREDITS_IDENTIFY = 1
CREDITS_HEALTH = 1
CREDITS_KB_DETAIL = 0.5
#: The details `plantid about` asks for by default (`--details` replaces them).
DEFAULT_KB_DETAILS = (
    "common_names", "taxonomy", "url", "gbif_id", "inaturalist_id", "rank", "synonyms",
    "description",
)  # fmt: skip
#: `plantid search --limit`: the service's default and its largest.
KB_SEARCH_LIMIT = 10
KB_SEARCH_MAX = 20
#: The longest name `search` and `about` send (a full name with authors is far shorter).
KB_NAME_MAX = 200

# ----- environment names -----
ENV_PREFIX = "PLANTID_"
#: Environment names of settings that do not follow the PLANTID_<FIELD> pattern.
ENV_OVERRIDES = {
    "plantnet_api_key": "PLANTNET_API_KEY",
    "plantnet_api_url": "PLANTNET_API_URL",
}
CONFIG_ENV = "PLANTID_CONFIG"
KEYS_FILE_ENV = "PLANTID_KEYS_FILE"
#: Not settings: read by the CLI before any settings are loaded.
DEBUG_ENV = "PLANTID_DEBUG"
LOG_FORMAT_ENV = "PLANTID_LOG_FORMAT"

# ----- output choices -----
#: `identify --format`.
OUTPUT_FORMATS = ("table", "json", "ndjson", "csv")
#: The formats the fast path (cli/fastpath.py) writes without importing Typer or Rich.
FAST_FORMATS = ("ndjson", "json", "csv")
STATUS_FORMATS = ("table", "json", "prometheus")
#: `--format` of every other command that prints data (usage, cache stats, config show, keys
#: list): a table for a person at a terminal, JSON for a pipe.
DATA_FORMATS = ("table", "json")
USAGE_FORMATS = DATA_FORMATS
#: `projects --format` (a list of rows, like identify's records without ndjson).
PROJECTS_FORMATS = ("table", "json", "csv")
LOG_FORMATS = ("text", "json")
#: Words a person may put after a flag thinking it takes a value (`--quiet true`): refused
#: with "flags take no value" (cli/options.py) instead of read as a photo.
FLAG_VALUE_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0"})
#: `tag --names`: the keyword as the bare name or with its authorship.
NAME_STYLES = ("short", "full")
#: A record's `status`, and the words shown for it (table and report).
RECORD_STATUSES = ("ok", "not_plant", "error")
STATUS_WORDS = {"ok": "identified", "not_plant": "not a plant", "error": "error"}
#: The same for `plantid health` records (its table).
HEALTH_STATUS_WORDS = {"ok": "assessed", "not_plant": "not a plant", "error": "error"}

# ----- breaker -----
STATE_CLOSED = "closed"
STATE_OPEN = "open"
STATE_HALF_OPEN = "half-open"
#: The breaker state as a number (Prometheus gauges and `status --format prometheus`).
BREAKER_STATE_VALUES = {STATE_CLOSED: 0, STATE_HALF_OPEN: 1, STATE_OPEN: 2}

# ----- retries and deadlines (guards/provider_guards.py) -----
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
#: Backoff is jittered by up to this factor (so the longest backoff wait is BACKOFF_CAP * it).
BACKOFF_JITTER = 1.5
#: The longest `Retry-After` honoured: a service asking for more fails that attempt at once.
RETRY_AFTER_CAP = 60.0
#: Margin for the bookkeeping around the calls (cache, SQLite, scheduling on a loaded machine).
DEADLINE_SLACK = 5.0
#: How long an exchange, once its total deadline has passed and its sockets are shut, waits for
#: its reading thread to take in what had already arrived (providers/exchange.py): so one
#: attempt may span `timeout` plus this, and every bound derived from attempts counts it.
SETTLE_SECONDS = 2.0
#: How often a request waiting for a free slot of the run's `--concurrency` looks at the stop
#: signal (guards/provider_guards.Wire): the first Ctrl-C ends the waits within it.
WIRE_POLL_SECONDS = 0.2
#: Connections in one httpcore pool at most: a run with more requests out spreads them over
#: several (providers/pools.py: a pool's bookkeeping costs the square of its size).
POOL_SHARD = 32
#: A pool of connections with no request out for this long is replaced by a fresh one before
#: its next request (providers/pools.py): a middlebox may have forgotten its idle connections.
#: httpx's own keep-alive expiry.
IDLE_POOL = 5.0
#: A run opens its cache's write side once every request slot is out, or this long after its
#: first unit reached the network stage (run/setups.py): what a run of fewer photos than slots
#: waits before it opens the store, well inside any service's answer time.
STORE_OPEN_GRACE = 0.05

# ----- limits -----
#: The largest answer body read (a real identification is a few hundred kB).
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
HTTP_USER_AGENT = "plantid-cli"
MAX_CONNECT_SECONDS = 10.0  # a connect wait, inside the call's timeout
#: Pillow's `Image.MAX_IMAGE_PIXELS` (1024**3 // 4 // 3), known here so that config loading
#: never imports Pillow; tests check it against Pillow. Above it Pillow refuses an image as a
#: decompression bomb whatever `max_megapixels` says, so a larger setting would only mislead.
PILLOW_MAX_IMAGE_PIXELS = 89_478_485
#: How long a SQLite connection waits on a file another process is writing ("database is
#: locked"), for every database plantid keeps: the shared state, the result cache, the hash index.
SQLITE_BUSY_SECONDS = 30.0
#: The largest integer setting: SQLite's INTEGER, where some of them are stored.
MAX_INT = 2**63 - 1
#: The longest wait any duration setting may ask for (a week): beyond this, socket and thread
#: timeouts overflow ("timestamp out of range") and a typo is far likelier than intent.
MAX_WAIT_SECONDS = 7 * 86400.0

# ----- herbarium workflow (issue 15) -----
#: Photo formats a folder walk picks up (any case); `identify --ext` adds more.
PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif")
#: Scans: TIFF (multi-page: the largest page), decoded band by band (images/scan.py).
TIFF_EXTENSIONS = (".tif", ".tiff")
#: Camera RAW, decoded through rawpy/LibRaw (the embedded preview when it is big enough).
RAW_EXTENSIONS = (".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2")
#: Scans decoded band by band never hold the full-resolution picture, so their pixel count is
#: not bounded by Pillow's bomb limit but by this one: a TIFF declaring more is a
#: decompression bomb (a 1200 dpi A3 sheet is ~280 MP).
MAX_SCAN_PIXELS = 1_000_000_000
#: The largest scan file read (a 100 MP 16-bit RGB TIFF, uncompressed, is 600 MB).
MAX_SCAN_FILE_BYTES = 4_000_000_000
#: `review apply`: a botanist's decision on one record.
DECISIONS = ("accepted", "rejected", "corrected")
#: The columns of a decisions file (the report's export), in order.
DECISION_COLUMNS = ("sha256", "decision", "scientific_name", "identified_by", "remarks")
#: `checklist --format`.
CHECKLIST_FORMATS = ("table", "csv", "json")
#: Darwin Core `identificationVerificationStatus` values we write.
VERIFIED = "verified"
UNVERIFIED = "unverified"
#: Darwin Core `basisOfRecord` of a herbarium sheet vs. a photo identified by a machine.
BASIS_OF_RECORD = "MachineObservation"
#: `export dwca --basis-of-record`: what each occurrence is (a herbarium sheet: PreservedSpecimen).
BASES_OF_RECORD = ("PreservedSpecimen", "MachineObservation", "HumanObservation", "MaterialSample")
#: `export dwca --license` (and the dataset_license setting): licences GBIF accepts.
DATASET_LICENSES = ("CC-BY-4.0", "CC0-1.0", "CC-BY-NC-4.0")

#: What a user file (results, keys, config) nested past the parser's recursion is told.
NESTED_TOO_DEEPLY = "nested too deeply to be read (thousands of levels of [ or {)"
