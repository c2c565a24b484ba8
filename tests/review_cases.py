"""A labelled set of multi-model code-review answers, for measuring how well `opper_mcp.review.merge` clusters them.

Each case is what 2-4 models said about one change; every finding carries a ground-truth `label`: findings with
the same label (within a case) describe the same problem and should be merged, all others kept apart. The set was
written before the merge algorithm, from the kinds of answers real models give: paraphrases, near-miss lines,
two problems on one line, one model repeating itself, differing categories, nearby-but-different problems, the
same title in different files.
"""

from __future__ import annotations

from dataclasses import dataclass

GPT = "openai/gpt-5"
CLAUDE = "anthropic/claude-sonnet-4-5"
GEMINI = "gcp/gemini-2.5-pro"
GROK = "xai/grok-4"


@dataclass(frozen=True)
class Labelled:
    label: str
    file: str
    start_line: int
    end_line: int
    severity: str
    category: str
    title: str
    explanation: str
    suggestion: str | None = None


@dataclass(frozen=True)
class Case:
    name: str
    answers: dict[str, list[Labelled]]


F = Labelled

CASES: list[Case] = [
    Case("sql injection, three wordings, plus a performance note on the same line", {
        GPT: [
            F("sqli", "app/db.py", 42, 43, "high", "security", "SQL injection via f-string in get_user",
              "The email parameter is interpolated into the SQL string with an f-string, so a crafted email such as "
              "`' OR 1=1 --` changes the query.", "Use a parameterised query: cursor.execute(sql, (email,))."),
        ],
        CLAUDE: [
            F("sqli", "app/db.py", 42, 42, "critical", "security", "User input interpolated directly into SQL query",
              "`get_user` builds its WHERE clause from request data without escaping; an attacker controls the "
              "statement that runs.", "Pass the value as a bound parameter instead of formatting it in."),
            F("perf", "app/db.py", 42, 42, "low", "performance", "Lookup by email has no index",
              "The query filters users by email on every login, but the migration adds no index on users.email, "
              "so it scans the whole table.", "Add an index on users(email)."),
        ],
        GEMINI: [
            F("sqli", "app/db.py", 41, 42, "high", "security", "Unparameterized query allows injection",
              "Building the query with string formatting lets untrusted input alter the SQL.", None),
        ],
    }),
    Case("off-by-one in pagination slice vs a missing test", {
        GPT: [
            F("slice", "api/pagination.py", 88, 88, "medium", "bug", "Off-by-one: slice excludes last item of page",
              "`items[offset:offset + limit - 1]` returns limit-1 elements because slice ends are exclusive.",
              "Use items[offset:offset + limit]."),
        ],
        CLAUDE: [
            F("slice", "api/pagination.py", 88, 89, "high", "bug", "Pagination returns one item fewer than limit",
              "The `- 1` on the slice end drops the last element of every page, so clients silently miss rows "
              "between pages.", "Remove the - 1."),
        ],
        GEMINI: [
            F("test", "api/pagination.py", 88, 88, "low", "tests", "No test covers page boundaries",
              "Nothing exercises a page that ends exactly at the end of the list or a limit of 1; such a test "
              "would have caught the slice arithmetic.", "Add a parametrised test over offsets and limits."),
        ],
    }),
    Case("file handle leak and a nearby broad except", {
        GPT: [
            F("leak", "tools/loader.py", 15, 17, "medium", "bug", "File handle never closed",
              "`f = open(path)` is read but never closed; on CPython it is closed by refcounting, elsewhere it "
              "leaks, and on error it is never closed.", "Use `with open(path) as f:`."),
        ],
        CLAUDE: [
            F("leak", "tools/loader.py", 15, 15, "low", "maintainability",
              "Use a with-statement so the file is closed on error",
              "If json.load raises, the open file object stays open until garbage collection.",
              "with open(path, encoding='utf-8') as f: data = json.load(f)"),
        ],
        GEMINI: [
            F("except", "tools/loader.py", 20, 22, "medium", "bug", "Broad except swallows errors",
              "`except Exception: return {}` hides malformed configuration and permission errors, so the loader "
              "silently starts with an empty config.", "Catch json.JSONDecodeError and FileNotFoundError only."),
        ],
    }),
    Case("one model reports the same race twice", {
        GPT: [
            F("race", "worker/stats.py", 30, 31, "high", "bug", "Race condition on counter increment",
              "`self.count += 1` runs from several threads without a lock; increments can be lost.",
              "Guard the update with self._lock."),
            F("race", "worker/stats.py", 30, 30, "medium", "bug", "Non-atomic read-modify-write of self.count",
              "The read, add and store are separate bytecodes; two threads can interleave and lose an update.",
              None),
        ],
        CLAUDE: [
            F("race", "worker/stats.py", 31, 31, "high", "bug", "Thread-unsafe counter update",
              "Workers call record() concurrently and the counter update is not synchronised, so totals drift "
              "under load.", "Use a threading.Lock or itertools.count."),
        ],
    }),
    Case("same title in two different files", {
        GPT: [
            F("client", "sync/client.py", 50, 52, "medium", "bug", "Missing error handling for network call",
              "`httpx.get` can raise ConnectError/Timeout, which propagates and kills the sync loop.",
              "Catch httpx.TransportError and retry with backoff."),
            F("sync", "sync/worker.py", 50, 50, "medium", "bug", "Missing error handling for network call",
              "The upload call is not wrapped; a transient network failure aborts the whole batch.", None),
        ],
        CLAUDE: [
            F("client", "sync/client.py", 51, 51, "medium", "bug", "Network errors not handled",
              "A connection failure in fetch_changes raises straight out of the sync loop.", None),
            F("sync", "sync/worker.py", 49, 50, "low", "bug", "Missing error handling for network call",
              "upload_batch does not handle connection errors, so one failure loses the batch.",
              "Wrap in try/except and requeue the batch."),
        ],
    }),
    Case("loose equality vs a null dereference on the same line", {
        GPT: [
            F("eq", "web/src/utils.js", 12, 12, "low", "style", "Loose equality coerces types",
              "`user.role == 1` coerces strings, so '1' also matches.", "Use ===."),
        ],
        CLAUDE: [
            F("eq", "web/src/utils.js", 12, 12, "info", "style", "Use strict equality (===)",
              "The comparison uses == where === is intended.", None),
        ],
        GEMINI: [
            F("null", "web/src/utils.js", 12, 12, "high", "bug", "Possible null dereference of user.profile",
              "`user.profile.role` is read before checking that profile exists; anonymous users have no profile "
              "and this throws TypeError.", "Use optional chaining: user.profile?.role."),
        ],
    }),
    Case("go rows not closed vs rows.Err unchecked nearby", {
        GPT: [
            F("close", "store/orders.go", 77, 77, "high", "bug", "rows never closed: connection leak",
              "The *sql.Rows from QueryContext is never closed, so each call holds a pool connection until GC.",
              "Add `defer rows.Close()` right after the error check."),
        ],
        CLAUDE: [
            F("close", "store/orders.go", 76, 78, "medium", "performance",
              "Missing defer rows.Close() leaks DB connections",
              "Without closing rows the connection pool is exhausted under load.", "defer rows.Close()"),
        ],
        GEMINI: [
            F("err", "store/orders.go", 84, 84, "medium", "bug", "Error from rows.Err() not checked after iteration",
              "Errors during iteration (e.g. a dropped connection) are only reported by rows.Err(); the function "
              "returns a partial list as if it were complete.", "Check rows.Err() after the loop."),
        ],
    }),
    Case("hardcoded key, and a nearby timeout", {
        GPT: [
            F("key", "config/settings.py", 9, 9, "critical", "security", "Hardcoded API key committed",
              "STRIPE_KEY is a live secret key literal in source control.", "Read it from the environment."),
        ],
        CLAUDE: [
            F("key", "config/settings.py", 9, 9, "high", "security", "Secret in source code",
              "A payment provider secret is embedded in the settings module and will be in every clone and image.",
              "Rotate the key and load it from a secret store."),
        ],
        GEMINI: [
            F("key", "config/settings.py", 8, 9, "medium", "security",
              "Credential literal should come from environment",
              "The Stripe key is defined as a string constant.", None),
        ],
        GROK: [
            F("timeout", "config/settings.py", 10, 10, "low", "bug", "Upstream timeout of 3 s is too low",
              "Payment API calls routinely take 5-8 s at peak; a 3 s timeout will fail valid charges.",
              "Raise it to 15 s and make it configurable."),
        ],
    }),
    Case("react effect: missing dependency (two wordings) vs missing cleanup", {
        GPT: [
            F("deps", "web/src/Profile.tsx", 23, 23, "medium", "bug", "useEffect missing `userId` in dependency array",
              "The effect reads userId but the dependency array is empty, so navigating to another profile keeps "
              "showing the old user.", "Add userId to the dependency array."),
        ],
        CLAUDE: [
            F("deps", "web/src/Profile.tsx", 22, 25, "medium", "bug", "Stale closure: effect does not re-run",
              "Because the effect's dependencies are `[]`, it captures the first userId and never refetches when "
              "the prop changes.", "Depend on [userId]."),
        ],
        GEMINI: [
            F("abort", "web/src/Profile.tsx", 24, 24, "low", "bug", "Fetch in effect has no cleanup on unmount",
              "If the component unmounts before the request resolves, setState runs on an unmounted component and "
              "responses can arrive out of order.", "Use an AbortController and abort in the cleanup function."),
        ],
    }),
    Case("path traversal, three phrasings", {
        GPT: [
            F("trav", "server/files.py", 61, 61, "high", "security", "Path traversal via unsanitised filename",
              "`os.path.join(UPLOAD_DIR, name)` with a name like `../../etc/passwd` escapes the upload folder.",
              "Resolve the path and check it is inside UPLOAD_DIR."),
        ],
        CLAUDE: [
            F("trav", "server/files.py", 60, 62, "critical", "security",
              "User-controlled path can escape upload directory",
              "The download handler joins the query parameter onto the base directory without normalising it.",
              "Use werkzeug.utils.safe_join or compare realpaths."),
        ],
        GEMINI: [
            F("trav", "server/files.py", 61, 61, "high", "security", "Directory traversal ('../') in download endpoint",
              "An attacker can read arbitrary files readable by the server process.", None),
        ],
    }),
    Case("division by zero and a style remark on the same function", {
        GPT: [
            F("zero", "grading/stats.py", 14, 14, "medium", "bug", "ZeroDivisionError when scores is empty",
              "`sum(scores) / len(scores)` fails for a student with no graded work yet.",
              "Return None (or 0.0) for an empty list."),
        ],
        CLAUDE: [
            F("zero", "grading/stats.py", 14, 14, "high", "bug", "Division by zero for empty input",
              "average() divides by len(scores) without guarding against an empty sequence.", None),
            F("mean", "grading/stats.py", 13, 14, "info", "style", "Use statistics.mean",
              "The hand-rolled average duplicates the standard library.", "from statistics import mean"),
        ],
    }),
    Case("n+1 queries, three wordings", {
        GPT: [
            F("n1", "blog/views.py", 40, 44, "medium", "performance", "N+1 queries: author loaded per post in loop",
              "Each iteration touches post.author, which issues one query per post.",
              "Use Post.objects.select_related('author')."),
        ],
        CLAUDE: [
            F("n1", "blog/views.py", 41, 41, "high", "performance", "Query inside loop causes N+1 database hits",
              "Rendering 50 posts runs 51 queries.", None),
        ],
        GEMINI: [
            F("n1", "blog/views.py", 39, 40, "medium", "performance",
              "Use select_related('author') to avoid per-row queries",
              "The queryset does not prefetch the author relation that the loop below dereferences.", None),
        ],
    }),
    Case("missing await, one model twice", {
        GPT: [
            F("await", "bot/handlers.py", 55, 55, "high", "bug", "Coroutine `save()` never awaited",
              "`repo.save(msg)` is an async method called without await; nothing is saved.", "await repo.save(msg)"),
        ],
        CLAUDE: [
            F("await", "bot/handlers.py", 55, 55, "critical", "bug",
              "Missing await: save is fire-and-forget and errors are lost",
              "Calling an async function without awaiting it only creates a coroutine object; the write never "
              "happens and Python warns at garbage collection.", None),
        ],
        GEMINI: [
            F("await", "bot/handlers.py", 55, 55, "high", "bug", "save() called without await",
              "The coroutine returned by save is discarded.", "Add await."),
            F("await", "bot/handlers.py", 55, 56, "medium", "bug", "RuntimeWarning: coroutine was never awaited",
              "This line will emit 'coroutine Repo.save was never awaited' and the message is not persisted.", None),
        ],
    }),
    Case("xss via innerHTML vs re-render cost", {
        GPT: [
            F("xss", "web/src/comments.js", 33, 33, "high", "security",
              "XSS: untrusted comment rendered via innerHTML",
              "Comment bodies come from other users and are assigned to innerHTML, so a <script> or onerror "
              "payload runs in every viewer's session.", "Assign to textContent or sanitise with DOMPurify."),
        ],
        CLAUDE: [
            F("xss", "web/src/comments.js", 33, 33, "critical", "security",
              "Cross-site scripting through innerHTML assignment",
              "User-supplied HTML is inserted unescaped.", None),
            F("render", "web/src/comments.js", 30, 36, "low", "performance",
              "Comment list re-rendered on every keystroke",
              "renderComments() is called from the input handler and rebuilds the whole list each key press.",
              "Debounce or render only on submit."),
        ],
        GEMINI: [
            F("xss", "web/src/comments.js", 33, 33, "medium", "security", "Use textContent instead of innerHTML",
              "innerHTML parses the comment as markup.", "el.textContent = comment.body"),
        ],
    }),
    Case("rust unwrap panic and needless clone on one line", {
        GPT: [
            F("unwrap", "src/cache.rs", 19, 19, "high", "bug", "unwrap() panics when key is missing",
              "`map.get(&k).unwrap()` panics for an unknown key, which a client can trigger.",
              "Return an error or use `?` with ok_or."),
            F("clone", "src/cache.rs", 19, 19, "low", "performance", "Unnecessary clone of large value",
              "The entry is cloned on every lookup although callers only read it.", "Return a reference."),
        ],
        CLAUDE: [
            F("unwrap", "src/cache.rs", 19, 19, "medium", "bug", "Panic on missing key",
              "Lookup of a key not in the map aborts the request handler thread.", None),
        ],
        GEMINI: [
            F("clone", "src/cache.rs", 19, 19, "info", "performance", "Needless clone; borrow instead",
              "`.clone()` copies the Vec each call.", None),
        ],
    }),
    Case("java: NPE and broad catch two lines apart, reported at shifted lines", {
        GPT: [
            F("npe", "src/main/java/app/Config.java", 100, 100, "high", "bug",
              "NullPointerException when config file missing",
              "`props.getProperty(\"port\")` returns null when the key is absent and Integer.parseInt(null) "
              "throws.", "Default the port or fail with a clear message."),
            F("catch", "src/main/java/app/Config.java", 102, 102, "medium", "maintainability",
              "Catching Exception hides errors",
              "The catch-all block logs nothing and returns defaults, masking configuration mistakes.", None),
        ],
        CLAUDE: [
            F("npe", "src/main/java/app/Config.java", 101, 101, "high", "bug", "parseInt on a null property",
              "Missing 'port' key leads to a NumberFormatException/NPE at start-up.", None),
            F("catch", "src/main/java/app/Config.java", 103, 104, "medium", "bug", "Overly broad catch block",
              "`catch (Exception e)` swallows everything including programming errors.",
              "Catch IOException only and rethrow the rest."),
        ],
    }),
    Case("test without assertions vs test needing network", {
        GPT: [
            F("noassert", "tests/test_upload.py", 45, 45, "medium", "tests", "Test asserts nothing",
              "test_upload_large calls upload() but never checks the result, so it passes even when the upload "
              "fails.", "Assert on the returned status and stored size."),
        ],
        CLAUDE: [
            F("noassert", "tests/test_upload.py", 44, 46, "medium", "tests",
              "test_upload_large has no assertion; always passes",
              "The test body has no assert statement.", None),
        ],
        GEMINI: [
            F("network", "tests/test_upload.py", 40, 40, "low", "tests", "Test depends on network access",
              "The fixture uploads to the real S3 endpoint; the test is slow and fails offline.",
              "Use moto or a local stub."),
        ],
    }),
    Case("naive datetime, three angles on the same line", {
        GPT: [
            F("tz", "auth/tokens.py", 72, 72, "high", "bug",
              "Naive datetime compared with aware datetime raises TypeError",
              "`datetime.now()` is naive while token.expires_at is timezone-aware; comparing them raises.",
              "Use datetime.now(timezone.utc)."),
        ],
        CLAUDE: [
            F("tz", "auth/tokens.py", 72, 72, "medium", "bug", "Use timezone-aware datetime.now(timezone.utc)",
              "The expiry check mixes naive local time with UTC timestamps.", None),
        ],
        GEMINI: [
            F("tz", "auth/tokens.py", 71, 72, "high", "bug", "Token expiry check uses local time instead of UTC",
              "On servers not running in UTC, tokens expire hours early or late.", None),
        ],
    }),
    Case("shell injection and missing timeout on the same call", {
        GPT: [
            F("shell", "ci/release.py", 27, 27, "critical", "security",
              "Command injection via shell=True with user branch name",
              "`subprocess.run(f\"git log {branch}\", shell=True)` lets a branch name like `x; rm -rf ~` run "
              "arbitrary commands.", "subprocess.run(['git', 'log', branch])"),
        ],
        CLAUDE: [
            F("shell", "ci/release.py", 27, 27, "high", "security", "shell=True with interpolated input",
              "The branch comes from the webhook payload and is formatted into a shell command.", None),
        ],
        GEMINI: [
            F("shell", "ci/release.py", 26, 27, "medium", "security", "Pass args as a list, avoid the shell",
              "Running through /bin/sh with an interpolated string is injection-prone.", None),
            F("timeout", "ci/release.py", 27, 27, "low", "bug", "No timeout on subprocess call",
              "A hung git process (e.g. waiting on credentials) blocks the release job forever.",
              "Pass timeout=60."),
        ],
    }),
    Case("redos in two categories vs regex compiled per call", {
        GPT: [
            F("redos", "parse/email.py", 8, 8, "medium", "security", "ReDoS: nested quantifier (a+)+",
              "The pattern `^([a-z0-9]+)+@` backtracks exponentially on a long local part without '@'.",
              "Remove the nested quantifier: ^[a-z0-9]+@."),
        ],
        CLAUDE: [
            F("redos", "parse/email.py", 8, 8, "high", "performance", "Regex vulnerable to catastrophic backtracking",
              "An input of 30 'a' characters followed by '!' takes seconds to reject.", None),
        ],
        GEMINI: [
            F("compile", "parse/email.py", 8, 8, "low", "performance", "Regex compiled on every call",
              "re.match with a string pattern is looked up in re's cache each time; hoist it to module level with "
              "re.compile.", "EMAIL_RE = re.compile(...)"),
        ],
    }),
    Case("mutable default argument, three wordings", {
        GPT: [
            F("mut", "lib/queue.py", 5, 5, "medium", "bug", "Mutable default argument `items=[]`",
              "The default list is created once and shared by every call that omits items.", "Use items=None."),
        ],
        CLAUDE: [
            F("mut", "lib/queue.py", 5, 5, "medium", "bug", "Default list shared between calls",
              "Appending to the default mutates it for later calls.", None),
        ],
        GEMINI: [
            F("mut", "lib/queue.py", 5, 6, "high", "bug", "Shared mutable default leaks state across requests",
              "Jobs queued for one request reappear in the next because `items` defaults to a single list object.",
              None),
        ],
    }),
    Case("c integer overflow vs unchecked malloc on the next line", {
        GPT: [
            F("overflow", "src/image.c", 210, 210, "high", "security", "Integer overflow in size computation",
              "`int size = width * height * 4;` overflows for large images, so malloc allocates too little and "
              "the copy below writes out of bounds.", "Use size_t and check with __builtin_mul_overflow."),
        ],
        CLAUDE: [
            F("overflow", "src/image.c", 210, 211, "critical", "security", "Multiplication may overflow before malloc",
              "width and height come from the file header; their product wraps and leads to a heap overflow.",
              None),
        ],
        GEMINI: [
            F("malloc", "src/image.c", 211, 211, "medium", "bug", "Unchecked malloc return value",
              "If malloc returns NULL the following memcpy dereferences it.", "Check for NULL and return an error."),
        ],
    }),
    Case("password logged, same title in another file", {
        GPT: [
            F("log1", "auth/login.py", 58, 58, "high", "security", "Password logged in plaintext",
              "The debug log line includes the full request body, password included.",
              "Log the username only."),
            F("log2", "auth/reset.py", 20, 20, "high", "security", "Password logged in plaintext",
              "The reset handler logs the new password at INFO.", None),
        ],
        CLAUDE: [
            F("log1", "auth/login.py", 58, 58, "high", "security", "Sensitive credentials written to logs",
              "logger.debug(f'login {payload}') writes passwords to the log aggregator.", None),
        ],
    }),
    Case("unused import vs unused variable", {
        GPT: [
            F("import", "scripts/migrate.py", 3, 3, "info", "style", "Unused import `os`",
              "os is imported but never used.", None),
        ],
        CLAUDE: [
            F("import", "scripts/migrate.py", 3, 3, "info", "style", "`os` imported but unused", "Remove it.", None),
        ],
        GEMINI: [
            F("var", "scripts/migrate.py", 47, 47, "info", "style", "Unused variable `tmp`",
              "tmp is assigned but never read.", None),
        ],
    }),
    Case("stack trace leaked to clients", {
        GPT: [
            F("trace", "api/errors.py", 90, 90, "medium", "security", "Stack trace returned to client in 500 response",
              "The error handler puts traceback.format_exc() into the JSON body, revealing paths and library "
              "versions.", "Log the traceback and return a generic message with a request id."),
        ],
        CLAUDE: [
            F("trace", "api/errors.py", 89, 91, "medium", "security", "Internal exception details exposed in API error",
              "Exception text and traceback are sent to the caller.", None),
        ],
    }),
    Case("cache not invalidated vs cross-tenant cache key nearby", {
        GPT: [
            F("stale", "users/service.py", 130, 130, "medium", "bug", "Cache not invalidated after update",
              "update_user writes to the database but leaves the cached user, so reads return old data for up to "
              "an hour.", "cache.delete(key) after the update."),
        ],
        CLAUDE: [
            F("stale", "users/service.py", 128, 131, "high", "bug",
              "Stale cache: update_user does not evict cached entry",
              "After an email change, get_user keeps serving the old email until the TTL expires.", None),
        ],
        GEMINI: [
            F("tenant", "users/service.py", 125, 125, "critical", "security",
              "Cache key ignores tenant id; cross-tenant data leak",
              "The key is f'user:{user_id}' while user ids are only unique per tenant, so one tenant can be served "
              "another tenant's user.", "Include tenant_id in the key."),
        ],
    }),
    Case("single-model findings that do not overlap in meaning", {
        GPT: [
            F("magic", "billing/invoice.py", 17, 17, "low", "maintainability", "Magic number 86400",
              "Seconds per day hard-coded; name it.", "SECONDS_PER_DAY = 86400"),
        ],
        CLAUDE: [
            F("long", "billing/invoice.py", 1, 80, "low", "maintainability", "Function too long; split it",
              "build_invoice is 80 lines mixing tax, discounts and rendering.", None),
        ],
        GEMINI: [
            F("round", "billing/invoice.py", 18, 19, "medium", "bug", "Due date computed with float days",
              "`days * 86400.0` produces a float timestamp and rounding moves the due date across midnight.",
              None),
        ],
    }),
    Case("goroutine leak vs loop variable capture nearby", {
        GPT: [
            F("leak", "pkg/fanout/fanout.go", 66, 66, "high", "bug", "Goroutine leak: channel never closed",
              "results is never closed, so the range loop in the collector waits forever.",
              "Close results after wg.Wait() in a separate goroutine."),
        ],
        CLAUDE: [
            F("leak", "pkg/fanout/fanout.go", 64, 70, "high", "bug",
              "Collector blocks forever because results channel is never closed",
              "Nothing closes the results channel once the workers finish.", None),
        ],
        GEMINI: [
            F("capture", "pkg/fanout/fanout.go", 62, 62, "high", "bug", "Loop variable captured by goroutine closure",
              "With go < 1.22 in go.mod, every goroutine sees the last `job`.", "Pass job as an argument."),
        ],
    }),
    Case("wrong status code, two wordings", {
        GPT: [
            F("status", "api/handlers/orders.py", 35, 35, "medium", "bug", "Returns 200 on validation failure",
              "When the payload fails validation the handler returns the error dict with status 200.",
              "Return 400."),
        ],
        CLAUDE: [
            F("status", "api/handlers/orders.py", 35, 36, "low", "bug",
              "Should respond 400 Bad Request for invalid payload, not 200",
              "Clients cannot tell failures from success.", None),
        ],
    }),
    Case("unbounded retries vs no backoff in the same loop", {
        GPT: [
            F("bound", "jobs/push.py", 48, 55, "high", "bug", "Retry loop has no max attempts",
              "`while True:` retries until the push succeeds, so a permanently invalid token spins forever.",
              "Stop after 5 attempts."),
        ],
        CLAUDE: [
            F("bound", "jobs/push.py", 50, 50, "medium", "bug", "Unbounded retries can hang the worker forever",
              "There is no attempt limit on the retry loop.", None),
        ],
        GEMINI: [
            F("backoff", "jobs/push.py", 52, 52, "medium", "performance", "No backoff between retries",
              "Failed pushes are retried immediately in a tight loop, hammering the push service.",
              "Sleep with exponential backoff and jitter."),
        ],
    }),
    Case("float money, three wordings", {
        GPT: [
            F("float", "shop/cart.py", 12, 12, "medium", "bug", "Float used for currency amounts",
              "Prices are Python floats; 0.1 + 0.2 != 0.3 leads to off-by-a-cent totals.", "Use Decimal."),
        ],
        CLAUDE: [
            F("float", "shop/cart.py", 12, 14, "medium", "bug", "Use Decimal for money to avoid rounding errors",
              "Binary floating point cannot represent most decimal prices.", None),
        ],
        GEMINI: [
            F("float", "shop/cart.py", 14, 14, "high", "bug", "Rounding error when summing prices as floats",
              "sum(item.price for item in items) accumulates float error; invoices differ from the cart.", None),
        ],
    }),
    Case("csrf vs missing authorization nearby", {
        GPT: [
            F("csrf", "bank/views.py", 20, 20, "high", "security", "State-changing endpoint lacks CSRF protection",
              "The transfer view is decorated with @csrf_exempt.", "Remove csrf_exempt."),
            F("authz", "bank/views.py", 22, 22, "critical", "security",
              "Missing authorization: any user can transfer from any account",
              "source_account is taken from the form and never checked against request.user.", None),
        ],
        CLAUDE: [
            F("csrf", "bank/views.py", 19, 21, "high", "security", "POST /transfer missing CSRF token check",
              "A malicious site can make a logged-in user's browser submit a transfer.", None),
        ],
    }),
    Case("return None not in annotation, two categories", {
        GPT: [
            F("none", "core/lookup.py", 9, 9, "low", "maintainability", "Return type says str but may return None",
              "find_name returns None when nothing matches, but is annotated -> str.", "Annotate -> str | None."),
        ],
        CLAUDE: [
            F("none", "core/lookup.py", 9, 12, "low", "bug", "Function can return None; annotate Optional[str]",
              "Callers rely on the annotation and call .upper() on the result.", None),
        ],
    }),
    Case("misleading docstring unit", {
        GPT: [
            F("doc", "net/retry.py", 4, 4, "low", "maintainability", "Docstring says seconds but value is milliseconds",
              "`timeout` is passed to a function taking ms.", None),
        ],
        CLAUDE: [
            F("doc", "net/retry.py", 4, 5, "info", "style", "Misleading docstring: timeout unit is ms",
              "The docstring documents seconds.", "Fix the docstring or rename to timeout_ms."),
        ],
    }),
    Case("lock not released vs deadlock nearby", {
        GPT: [
            F("release", "svc/ledger.py", 75, 75, "high", "bug", "Lock not released on exception path",
              "lock.acquire() is followed by code that can raise before lock.release().", "Use `with lock:`."),
        ],
        CLAUDE: [
            F("release", "svc/ledger.py", 74, 78, "medium", "bug", "Use try/finally (or with) around lock acquire",
              "An exception in apply() leaves the lock held and every later call blocks.", None),
        ],
        GEMINI: [
            F("deadlock", "svc/ledger.py", 80, 80, "critical", "bug", "Deadlock: lock acquired twice in nested call",
              "post() holds self._lock and calls balance(), which acquires the same non-reentrant Lock.",
              "Use RLock or split a _balance_unlocked helper."),
        ],
    }),
    Case("swift force unwrap, three wordings", {
        GPT: [
            F("unwrap", "App/Network/Endpoint.swift", 14, 14, "high", "bug",
              "Force unwrap of optional URL crashes on invalid input",
              "URL(string: base + path)! traps when path contains spaces.", "guard let url = URL(string: ...)"),
        ],
        CLAUDE: [
            F("unwrap", "App/Network/Endpoint.swift", 14, 14, "high", "bug",
              "URL(string:)! will crash if the string is malformed",
              "User-provided search terms reach this initialiser unencoded.", None),
        ],
        GEMINI: [
            F("unwrap", "App/Network/Endpoint.swift", 14, 14, "medium", "bug", "Force-unwrapped URL", "Avoid `!`.",
              None),
        ],
    }),
    Case("migration: not null without default vs missing index", {
        GPT: [
            F("notnull", "migrations/0042_add_region.sql", 8, 8, "high", "bug",
              "Adding NOT NULL column without default fails on existing rows",
              "ALTER TABLE orders ADD COLUMN region text NOT NULL errors on a non-empty table.",
              "Add a DEFAULT or backfill first."),
        ],
        CLAUDE: [
            F("notnull", "migrations/0042_add_region.sql", 8, 8, "critical", "bug",
              "Migration will fail: non-nullable column with no default",
              "Production has millions of orders; the migration aborts the deploy.", None),
        ],
        GEMINI: [
            F("index", "migrations/0042_add_region.sql", 10, 10, "medium", "performance",
              "Missing index on foreign key order_id",
              "order_items.order_id has no index; joins and cascading deletes scan the table.", None),
        ],
    }),
    Case("pull_request_target vs unpinned action", {
        GPT: [
            F("prt", ".github/workflows/ci.yml", 5, 12, "critical", "security",
              "pull_request_target with checkout of PR head runs untrusted code with secrets",
              "The workflow triggers on pull_request_target and checks out github.event.pull_request.head.sha, "
              "then runs its build script with repository secrets available.", "Use pull_request instead."),
        ],
        CLAUDE: [
            F("prt", ".github/workflows/ci.yml", 9, 9, "critical", "security",
              "Untrusted PR code checked out in privileged workflow",
              "Forks can exfiltrate secrets via the checked-out code.", None),
        ],
        GEMINI: [
            F("pin", ".github/workflows/ci.yml", 10, 10, "medium", "security", "Action pinned to mutable tag @v3",
              "A retagged third-party action would run in this workflow.", "Pin to a full commit SHA."),
        ],
    }),
    Case("dockerfile root user vs apt recommends", {
        GPT: [
            F("root", "Dockerfile", 1, 20, "medium", "security", "Container runs as root",
              "No USER is set, so the app runs as uid 0 inside the container.", "Add a non-root user."),
        ],
        CLAUDE: [
            F("root", "Dockerfile", 20, 20, "medium", "security", "No USER instruction; process runs as root",
              "CMD starts the server as root.", None),
        ],
        GEMINI: [
            F("apt", "Dockerfile", 5, 5, "low", "performance", "apt-get install without --no-install-recommends",
              "Pulls in ~200 MB of recommended packages.", None),
        ],
    }),
    Case("bare except, three wordings across categories", {
        GPT: [
            F("bare", "daemon/loop.py", 33, 33, "medium", "bug", "Bare except hides KeyboardInterrupt",
              "`except:` also catches SystemExit and KeyboardInterrupt, so the daemon cannot be stopped.", None),
        ],
        CLAUDE: [
            F("bare", "daemon/loop.py", 33, 34, "medium", "bug", "except: pass silently swallows all errors",
              "Failures in handle() vanish without a log line.", "Catch Exception and log it."),
        ],
        GEMINI: [
            F("bare", "daemon/loop.py", 33, 33, "low", "style", "Catch specific exceptions instead of bare except",
              "PEP 8 discourages bare except clauses.", None),
        ],
    }),
    Case("timing attack, one model twice", {
        GPT: [
            F("timing", "webhooks/verify.py", 41, 41, "high", "security", "Timing attack in signature comparison",
              "`==` on the HMAC digests returns early on the first differing byte.", None),
            F("timing", "webhooks/verify.py", 41, 41, "medium", "security",
              "Use hmac.compare_digest for secret comparison",
              "Constant-time comparison prevents recovering the signature byte by byte.",
              "hmac.compare_digest(expected, received)"),
        ],
        CLAUDE: [
            F("timing", "webhooks/verify.py", 41, 41, "high", "security",
              "Non-constant-time comparison of HMAC signature",
              "An attacker can forge webhook signatures by measuring response times.", None),
        ],
    }),
    Case("two models, unrelated findings", {
        GPT: [
            F("limit", "api/users.py", 15, 15, "medium", "performance", "Missing pagination limit",
              "GET /users returns every user in one response.", "Add limit/offset with a max of 100."),
        ],
        CLAUDE: [
            F("hash", "api/users.py", 30, 30, "critical", "security", "Response includes password hash field",
              "UserSchema serialises password_hash.", "Exclude it from the schema."),
        ],
    }),
    Case("index error in loop vs shadowed variable next line", {
        GPT: [
            F("idx", "algo/window.py", 50, 50, "high", "bug",
              "Off-by-one in loop bound: range(len(x) + 1) raises IndexError",
              "The loop runs one past the end and x[i] fails on the last iteration.", "Use range(len(x))."),
        ],
        CLAUDE: [
            F("idx", "algo/window.py", 50, 50, "high", "bug", "IndexError on last iteration",
              "i reaches len(x), which is out of range.", None),
        ],
        GEMINI: [
            F("shadow", "algo/window.py", 51, 51, "low", "maintainability", "Inner loop variable shadows outer `i`",
              "The nested comprehension reuses the name i, which is confusing.", None),
        ],
    }),
    Case("tls verification off vs ssrf on the same line", {
        GPT: [
            F("tls", "integrations/webhook.py", 22, 22, "high", "security", "TLS verification disabled (verify=False)",
              "requests.get(url, verify=False) accepts any certificate, enabling man-in-the-middle attacks.",
              "Drop verify=False."),
        ],
        CLAUDE: [
            F("ssrf", "integrations/webhook.py", 22, 22, "high", "security",
              "SSRF: user-supplied URL fetched server-side",
              "The callback URL comes from the tenant's settings and can point at 169.254.169.254 or internal "
              "services.", "Resolve and block private address ranges."),
        ],
        GEMINI: [
            F("tls", "integrations/webhook.py", 22, 22, "high", "security", "Certificate validation turned off",
              "Passing verify=False disables certificate checks.", None),
            F("ssrf", "integrations/webhook.py", 21, 22, "critical", "security",
              "Server-side request forgery via callback url parameter",
              "Arbitrary URLs are requested from inside the network.", None),
        ],
    }),
    Case("quadratic membership test, two wordings", {
        GPT: [
            F("quad", "etl/dedupe.py", 30, 33, "medium", "performance", "O(n^2) membership test in list inside loop",
              "`if row.id not in seen` scans the list each time; 100k rows take minutes.", "Make seen a set."),
        ],
        CLAUDE: [
            F("quad", "etl/dedupe.py", 31, 31, "medium", "performance",
              "Use a set for `seen` lookups; a list makes this quadratic",
              "Each `in` check on a list is linear.", None),
        ],
    }),
    Case("four models: jwt verification disabled vs token expiry unchecked", {
        GPT: [
            F("alg", "auth/jwt.py", 18, 18, "critical", "security", "JWT signature not verified",
              "jwt.decode(token, options={'verify_signature': False}) accepts any forged token.",
              "Verify with the public key and pin algorithms=['RS256']."),
        ],
        CLAUDE: [
            F("alg", "auth/jwt.py", 18, 19, "critical", "security", "Token decoded without signature verification",
              "Anyone can mint an admin token.", None),
            F("exp", "auth/jwt.py", 24, 24, "medium", "security", "Expiry claim not enforced",
              "The exp claim is read but only logged; expired tokens are accepted.", "Reject when exp < now."),
        ],
        GEMINI: [
            F("alg", "auth/jwt.py", 18, 18, "critical", "security", "verify_signature=False disables JWT validation",
              "Signature checks are turned off.", None),
        ],
        GROK: [
            F("exp", "auth/jwt.py", 23, 25, "high", "security", "Expired tokens accepted",
              "No comparison of exp against the current time.", None),
        ],
    }),
    Case("four models: env var parse crash vs missing docs", {
        GPT: [
            F("parse", "settings/env.py", 31, 31, "medium", "bug", "int() on env var crashes on empty string",
              "WORKERS='' (set but empty in compose files) raises ValueError at start-up.",
              "Treat empty as unset."),
        ],
        CLAUDE: [
            F("parse", "settings/env.py", 31, 31, "low", "bug", "ValueError when WORKERS is empty",
              "int('') fails.", None),
        ],
        GEMINI: [
            F("docs", "settings/env.py", 28, 33, "info", "maintainability", "New WORKERS variable not documented",
              "README's configuration table does not mention WORKERS.", None),
        ],
        GROK: [
            F("parse", "settings/env.py", 30, 31, "medium", "bug", "Unvalidated integer environment variable",
              "Non-numeric values crash the process with an unhelpful traceback.", None),
        ],
    }),
    Case("kotlin coroutine scope leak vs main-thread io", {
        GPT: [
            F("scope", "app/src/main/java/com/x/SyncManager.kt", 40, 40, "high", "bug",
              "GlobalScope.launch outlives the activity",
              "The job is never cancelled and keeps a reference to the activity, leaking it.",
              "Use lifecycleScope."),
        ],
        CLAUDE: [
            F("scope", "app/src/main/java/com/x/SyncManager.kt", 40, 42, "medium", "performance",
              "Memory leak: coroutine in GlobalScope holds Activity",
              "Rotating the screen leaks one activity per rotation.", None),
            F("io", "app/src/main/java/com/x/SyncManager.kt", 43, 43, "medium", "performance",
              "Disk read on the main dispatcher",
              "prefs.readAll() runs on Dispatchers.Main and janks the UI.", "withContext(Dispatchers.IO)"),
        ],
    }),
    Case("typescript any vs unhandled promise rejection", {
        GPT: [
            F("any", "src/api/client.ts", 17, 17, "low", "maintainability", "Response typed as any",
              "`const data: any = await res.json()` disables type checking downstream.", "Define a Response type."),
            F("reject", "src/api/client.ts", 19, 21, "high", "bug", "Unhandled promise rejection in refresh()",
              "refresh() is called without await or .catch; a failed refresh crashes the Node process under "
              "--unhandled-rejections=strict.", None),
        ],
        CLAUDE: [
            F("reject", "src/api/client.ts", 20, 20, "high", "bug", "Floating promise: refresh() errors are unhandled",
              "The returned promise is dropped.", "await it or add .catch(logError)."),
        ],
        GEMINI: [
            F("any", "src/api/client.ts", 17, 17, "info", "style", "Avoid `any` for parsed JSON",
              "Use unknown and validate.", None),
        ],
    }),
    Case("sql: select star vs missing where on delete", {
        GPT: [
            F("delete", "db/cleanup.sql", 12, 12, "critical", "bug", "DELETE without WHERE clause",
              "`DELETE FROM sessions;` removes every session, logging out all users, instead of only expired ones.",
              "Add WHERE expires_at < now()."),
        ],
        CLAUDE: [
            F("delete", "db/cleanup.sql", 12, 13, "critical", "bug", "Cleanup deletes all sessions, not just expired",
              "The WHERE clause is on the next statement, so the DELETE is unconditional.", None),
        ],
        GEMINI: [
            F("star", "db/cleanup.sql", 3, 3, "low", "performance", "SELECT * in report query",
              "Only two columns are used.", None),
        ],
    }),
    Case("ruby mass assignment vs missing transaction", {
        GPT: [
            F("mass", "app/controllers/users_controller.rb", 14, 14, "high", "security",
              "Mass assignment: params permitted with permit!",
              "params.require(:user).permit! lets a user set admin: true on themselves.",
              "Permit an explicit list of attributes."),
        ],
        CLAUDE: [
            F("mass", "app/controllers/users_controller.rb", 14, 14, "critical", "security",
              "Privilege escalation via unrestricted strong parameters",
              "Any attribute including role can be updated from the form.", None),
        ],
        GEMINI: [
            F("txn", "app/controllers/users_controller.rb", 16, 19, "medium", "bug",
              "Profile and audit log updated outside a transaction",
              "If the audit insert fails the profile change is kept without a record.",
              "Wrap both in ActiveRecord::Base.transaction."),
        ],
    }),
    Case("python: open redirect, one model repeats with different lines", {
        GPT: [
            F("redirect", "web/auth.py", 77, 77, "medium", "security", "Open redirect via next parameter",
              "redirect(request.args['next']) sends users to any external site after login.",
              "Allow only relative paths."),
            F("redirect", "web/auth.py", 79, 80, "medium", "security", "Unvalidated redirect target after login",
              "The next URL is not checked against the host.", None),
        ],
        GEMINI: [
            F("redirect", "web/auth.py", 77, 78, "high", "security", "Open redirect enables phishing",
              "Attackers craft login links that land on their own domain.", None),
        ],
    }),
]
