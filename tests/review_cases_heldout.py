"""A second, smaller labelled set written after the merge's weights were chosen on `review_cases`, and not used to
choose anything: its figures say how the merge does on answers it was not fitted to (same format and labels)."""

from __future__ import annotations

from tests.review_cases import CLAUDE, GEMINI, GPT, GROK, Case
from tests.review_cases import Labelled as F

HELDOUT: list[Case] = [
    Case("php: sql built by concatenation vs echo without escaping", {
        GPT: [
            F("sqli", "public/search.php", 21, 21, "critical", "security", "SQL built by concatenating $_GET['q']",
              "\"SELECT * FROM products WHERE name LIKE '%\" . $_GET['q'] . \"%'\" lets the query string rewrite "
              "the statement.", "Use a PDO prepared statement with a bound :q."),
            F("xss", "public/search.php", 27, 27, "high", "security", "Search term echoed without escaping",
              "echo $_GET['q'] in the results header reflects markup back to the browser.",
              "htmlspecialchars($q, ENT_QUOTES)."),
        ],
        CLAUDE: [
            F("sqli", "public/search.php", 20, 22, "critical", "security", "SQL injection in product search",
              "User input goes straight into the LIKE clause.", None),
            F("xss", "public/search.php", 27, 27, "high", "security", "Reflected XSS in results heading",
              "The q parameter is printed unescaped.", None),
        ],
        GEMINI: [
            F("sqli", "public/search.php", 21, 21, "high", "security", "Unsanitized query parameter in SQL",
              "The search parameter is concatenated into the query string.", None),
        ],
    }),
    Case("go: map written from goroutines vs ignored error", {
        GPT: [
            F("race", "internal/agg/agg.go", 44, 44, "critical", "bug", "Concurrent map writes",
              "Each worker goroutine writes totals[key] without a mutex; Go aborts with 'concurrent map writes'.",
              "Protect totals with a sync.Mutex or collect per-worker maps and merge."),
        ],
        CLAUDE: [
            F("race", "internal/agg/agg.go", 43, 45, "high", "bug", "Data race on shared totals map",
              "Multiple goroutines mutate the same map; run with -race to see it.", None),
            F("err", "internal/agg/agg.go", 47, 47, "medium", "bug", "Error from parseLine discarded",
              "`v, _ := parseLine(l)` treats malformed lines as zero.", "Return or count the error."),
        ],
        GROK: [
            F("race", "internal/agg/agg.go", 44, 44, "high", "bug", "Map is not safe for concurrent use",
              "Writing to a Go map from several goroutines is a fatal runtime error.", None),
        ],
    }),
    Case("python: requests without timeout, two wordings; retry status list", {
        GPT: [
            F("timeout", "clients/geo.py", 33, 33, "medium", "bug", "HTTP call has no timeout",
              "requests.get without timeout can hang the worker indefinitely if the geo API stalls.",
              "Pass timeout=(3, 10)."),
        ],
        CLAUDE: [
            F("timeout", "clients/geo.py", 33, 34, "medium", "performance", "requests.get may block forever",
              "No timeout argument is given, so a stalled connection ties up the thread.", None),
        ],
        GEMINI: [
            F("status", "clients/geo.py", 36, 36, "low", "bug", "Retries on 4xx responses",
              "The retry condition is `status >= 400`, so a 404 for an unknown address is retried five times.",
              "Retry on 429 and 5xx only."),
        ],
    }),
    Case("java: equals without hashCode vs mutable field used in hash", {
        GPT: [
            F("hash", "src/main/java/shop/Sku.java", 30, 40, "high", "bug", "equals() overridden without hashCode()",
              "Sku instances that are equal land in different HashSet buckets, so duplicates slip in.",
              "Override hashCode using the same fields."),
        ],
        CLAUDE: [
            F("hash", "src/main/java/shop/Sku.java", 30, 30, "medium", "bug", "Missing hashCode override",
              "The class breaks the equals/hashCode contract.", None),
            F("mutable", "src/main/java/shop/Sku.java", 12, 12, "low", "maintainability",
              "Public mutable field `code`", "Callers can change code after the object is in a set.",
              "Make it private final."),
        ],
    }),
    Case("js: promise in forEach vs missing error status", {
        GPT: [
            F("foreach", "server/routes/import.js", 18, 20, "high", "bug", "async callback in forEach is not awaited",
              "rows.forEach(async r => await save(r)) returns before any save finishes, so the response says "
              "'done' while writes are still running and their errors are lost.", "Use for...of with await."),
        ],
        CLAUDE: [
            F("foreach", "server/routes/import.js", 18, 18, "high", "bug", "forEach does not wait for async saves",
              "Array.prototype.forEach ignores returned promises.", "await Promise.all(rows.map(save))"),
        ],
        GEMINI: [
            F("status", "server/routes/import.js", 24, 24, "medium", "bug", "Errors answered with HTTP 200",
              "The catch block sends res.json({error}) without setting a status.", "res.status(500)."),
            F("foreach", "server/routes/import.js", 19, 19, "medium", "bug", "Unawaited promises inside forEach",
              "The handler finishes before the inserts.", None),
        ],
    }),
    Case("c: buffer overflow via strcpy vs format string", {
        GPT: [
            F("strcpy", "src/net/parse.c", 55, 55, "critical", "security", "strcpy into fixed buffer overflows",
              "name comes from the packet and may exceed the 64-byte buf.", "Use snprintf or check the length."),
            F("fmt", "src/net/parse.c", 58, 58, "high", "security", "Format string vulnerability in printf(name)",
              "Passing attacker data as the format lets %n write memory.", "printf(\"%s\", name)"),
        ],
        CLAUDE: [
            F("strcpy", "src/net/parse.c", 55, 56, "critical", "security", "Stack buffer overflow from packet name",
              "No bounds check before copying into buf[64].", None),
        ],
        GEMINI: [
            F("fmt", "src/net/parse.c", 58, 58, "high", "security", "Uncontrolled format string",
              "printf is called with a user-controlled format argument.", None),
        ],
    }),
    Case("terraform: public bucket vs missing encryption", {
        GPT: [
            F("public", "infra/storage.tf", 8, 12, "critical", "security", "S3 bucket is publicly readable",
              "acl = \"public-read\" exposes every uploaded invoice.", "Use private ACL and a CloudFront OAC."),
            F("enc", "infra/storage.tf", 14, 14, "medium", "security", "Server-side encryption not configured",
              "The bucket has no SSE configuration.", None),
        ],
        CLAUDE: [
            F("public", "infra/storage.tf", 10, 10, "high", "security", "public-read ACL on invoices bucket",
              "Anyone with the URL can list and download invoices.", None),
        ],
        GEMINI: [
            F("enc", "infra/storage.tf", 13, 15, "low", "security", "Bucket lacks default encryption at rest",
              "Add aws_s3_bucket_server_side_encryption_configuration.", None),
        ],
    }),
    Case("python: pickle load of untrusted data", {
        GPT: [
            F("pickle", "ml/serve.py", 40, 40, "critical", "security", "Deserializing untrusted pickle",
              "pickle.loads(request.data) executes arbitrary code embedded in the payload.",
              "Accept JSON or safetensors instead."),
        ],
        CLAUDE: [
            F("pickle", "ml/serve.py", 40, 41, "critical", "security", "Remote code execution via pickle.loads",
              "The model upload endpoint unpickles request bodies.", None),
        ],
        GEMINI: [
            F("pickle", "ml/serve.py", 40, 40, "high", "security", "Insecure deserialization",
              "Never unpickle data from clients.", None),
            F("size", "ml/serve.py", 38, 38, "medium", "performance", "No limit on upload size",
              "request.data reads the whole body into memory; a 5 GB upload exhausts RAM.",
              "Set MAX_CONTENT_LENGTH."),
        ],
    }),
    Case("rust: blocking call in async fn vs unwrap on lock", {
        GPT: [
            F("block", "src/handlers.rs", 70, 70, "high", "performance", "std::fs::read blocks the async runtime",
              "Blocking file IO inside an async handler stalls a Tokio worker thread.",
              "Use tokio::fs::read or spawn_blocking."),
            F("poison", "src/handlers.rs", 73, 73, "low", "bug", "lock().unwrap() panics on a poisoned mutex",
              "If another handler panicked while holding the lock, every later request panics too.", None),
        ],
        CLAUDE: [
            F("block", "src/handlers.rs", 69, 71, "medium", "performance", "Synchronous file read in async context",
              "fs::read on the runtime thread blocks other tasks.", None),
        ],
    }),
    Case("sql: implicit cross join vs date filter on function", {
        GPT: [
            F("join", "reports/monthly.sql", 5, 7, "high", "bug", "Missing join condition produces a cross join",
              "FROM orders, customers without a WHERE linking them multiplies every order by every customer.",
              "JOIN customers c ON c.id = o.customer_id"),
            F("sarg", "reports/monthly.sql", 9, 9, "medium", "performance", "Function on indexed column in WHERE",
              "date_trunc('month', created_at) = ... prevents the index on created_at from being used.",
              "Compare created_at against a range."),
        ],
        CLAUDE: [
            F("join", "reports/monthly.sql", 6, 6, "critical", "bug", "Cartesian product between orders and customers",
              "Totals are inflated by the number of customers.", None),
        ],
        GEMINI: [
            F("sarg", "reports/monthly.sql", 9, 9, "low", "performance", "Non-sargable date filter",
              "Wrapping created_at in date_trunc forces a sequential scan.", None),
        ],
    }),
    Case("react: key index vs state mutation", {
        GPT: [
            F("key", "web/src/TodoList.jsx", 31, 31, "low", "bug", "Array index used as React key",
              "Deleting an item shifts keys, so inputs keep the wrong item's state.", "Use todo.id."),
            F("mutate", "web/src/TodoList.jsx", 22, 23, "high", "bug", "State mutated in place",
              "todos.push(t); setTodos(todos) passes the same array, so React skips the re-render.",
              "setTodos([...todos, t])"),
        ],
        CLAUDE: [
            F("mutate", "web/src/TodoList.jsx", 22, 22, "high", "bug", "push() mutates state; component won't update",
              "setTodos receives the identical array reference.", None),
            F("key", "web/src/TodoList.jsx", 31, 31, "info", "style", "Avoid index keys",
              "Prefer stable ids for list keys.", None),
        ],
    }),
    Case("python: assert used for validation, two models, one repeats", {
        GPT: [
            F("assert", "api/validate.py", 12, 12, "medium", "security", "assert used for input validation",
              "Assertions are stripped under python -O, so the amount check disappears in production.",
              "Raise ValueError instead."),
            F("assert", "api/validate.py", 13, 13, "medium", "bug", "Validation disappears with -O",
              "The second assert on currency is also removed by optimisation.", None),
        ],
        CLAUDE: [
            F("assert", "api/validate.py", 12, 13, "medium", "bug", "Do not rely on assert for checks",
              "assert statements are not executed when optimisations are on.", None),
        ],
    }),
    Case("shell script: unquoted variable vs missing set -e", {
        GPT: [
            F("quote", "scripts/deploy.sh", 14, 14, "high", "bug", "Unquoted $TARGET_DIR in rm -rf",
              "If TARGET_DIR is empty or has spaces, rm -rf $TARGET_DIR/* deletes the wrong files.",
              "Quote it and use ${TARGET_DIR:?}."),
        ],
        CLAUDE: [
            F("quote", "scripts/deploy.sh", 14, 14, "critical", "bug", "rm -rf with an unquoted, possibly empty var",
              "An empty TARGET_DIR expands to rm -rf /*.", None),
        ],
        GEMINI: [
            F("errexit", "scripts/deploy.sh", 1, 2, "medium", "bug", "Script continues after failures",
              "There is no `set -euo pipefail`, so a failed build still deploys.", None),
            F("quote", "scripts/deploy.sh", 14, 14, "high", "bug", "Word splitting on TARGET_DIR",
              "Variables should be double-quoted.", None),
        ],
    }),
    Case("kotlin: same title in two files", {
        GPT: [
            F("a", "app/src/main/java/com/x/LoginViewModel.kt", 25, 25, "medium", "bug", "Exception swallowed",
              "runCatching { login() } discards the failure so the spinner never stops.", None),
            F("b", "app/src/main/java/com/x/ProfileViewModel.kt", 25, 25, "medium", "bug", "Exception swallowed",
              "The catch block is empty; profile load errors are never shown.", None),
        ],
        CLAUDE: [
            F("a", "app/src/main/java/com/x/LoginViewModel.kt", 24, 26, "medium", "bug", "Login failure ignored",
              "The result of runCatching is dropped.", None),
        ],
    }),
    Case("python: timezone vs dst on adjacent lines", {
        GPT: [
            F("dst", "sched/cron.py", 50, 50, "medium", "bug", "Adding 24 hours skips or repeats a run across DST",
              "next_run = last_run + timedelta(hours=24) in local time drifts by an hour twice a year.",
              "Compute the next wall-clock time with zoneinfo."),
        ],
        CLAUDE: [
            F("naive", "sched/cron.py", 48, 48, "medium", "bug", "datetime.now() without tz",
              "The scheduler mixes naive now() with aware last_run values.", None),
            F("dst", "sched/cron.py", 50, 51, "low", "bug", "Daylight saving changes shift the schedule",
              "A fixed 24 h step is not one calendar day across DST transitions.", None),
        ],
    }),
]
