"""A trained reward model behind OpenRLHF's remote reward protocol (`python -m rm_lab.serve PATH`).

    POST /get_reward   {"query": [text, ...], "prompts": [text, ...]}  ->  {"rewards": [...], "scores": [...]}
    GET  /health       {"status": "ok", "method": ..., "backbone": ..., "input_format": ...}

The protocol is OpenRLHF's (`--reward.remote_url http://HOST:PORT/get_reward`; openrlhf 0.11.2
posts {"query", "prompts", "labels"} and reads "rewards", and "scores" where given; its own
`openrlhf.cli.serve_rm` answers the same). Each query is a whole text (the prompt and the
policy's response, as the trainer decoded them) and `prompts[i]` its prompt:
- chat-format models read the query as a whole, a conversation in the chat template's text
  (`RewardScorer.score_texts`: ending at EOS, truncated from the left at the run's max length);
  prompts are optional (routers read them; without, each query stands for its own prompt);
- pair-format models read (prompt, response) with response = the query after its prompt, so
  prompts are required and each query must start with its prompt.
Extra keys (OpenRLHF's "labels") are ignored. Rewards are the run's (`rm_lab.score`'s), one
request scored in batches at a time (concurrent requests wait their turn). Bad requests get a 4xx
with the reason in `detail`: 400 (not JSON), 401 (API key), 413 (too many queries or bytes), 422
(wrong fields, a query that does not start with its prompt); the server keeps serving.
"""
import hmac
import json
import threading

MAX_QUERIES = 4096  # queries per request (--max-queries)
MAX_BYTES = 64 * 1024 * 1024  # request body (--max-bytes)
API_KEY_ENV = "RM_LAB_API_KEY"  # the API key when --api-key is not given


class RequestError(Exception):
    """A request the server refuses: its HTTP status and the reason it tells the client."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def parse_request(data, chat: bool, max_queries: int = MAX_QUERIES) -> tuple[list[str], list[str] | None]:
    """(queries, prompts) of a decoded request body, checked; RequestError saying what is wrong."""
    if not isinstance(data, dict):
        raise RequestError(422, 'the body must be a JSON object {"query": [...], "prompts": [...]}')
    if "query" not in data:
        raise RequestError(422, 'missing "query": a list of texts (prompt and response), one per reward')
    queries, prompts = data["query"], data.get("prompts")
    if isinstance(queries, str):
        queries = [queries]
        prompts = [prompts] if isinstance(prompts, str) else prompts
    for name, value in (("query", queries), ("prompts", prompts)):
        if value is None and name == "prompts":
            continue
        if not isinstance(value, list):
            raise RequestError(422, f'"{name}" must be a list of strings, got {type(value).__name__}')
        bad = next((i for i, v in enumerate(value) if not isinstance(v, str)), None)
        if bad is not None:
            raise RequestError(422, f'"{name}"[{bad}] must be a string, got {type(value[bad]).__name__}')
    if len(queries) > max_queries:
        raise RequestError(413, f"{len(queries)} queries in one request; this server takes at most {max_queries} "
                                "(--max-queries): split the batch")
    if prompts is not None and len(prompts) != len(queries):
        raise RequestError(422, f'{len(queries)} queries but {len(prompts)} prompts: give one prompt per query')
    if not chat:
        if prompts is None:
            raise RequestError(422, 'this model reads (prompt, response) pairs: send "prompts" with the queries, '
                                    "each query starting with its prompt")
        bad = next((i for i, (q, p) in enumerate(zip(queries, prompts)) if not q.startswith(p)), None)
        if bad is not None:
            raise RequestError(422, f"query {bad} does not start with its prompt: the response is the query after "
                                    "its prompt, so send the prompt exactly as it begins the query")
    return queries, prompts


class RewardService:
    """Scores requests with one loaded scorer (`rm_lab.inference.exported.load_scorer`), one request
    at a time."""

    def __init__(self, scorer):
        from rm_lab.inference.exported import describe, input_format  # torch: once a scorer exists

        self.scorer = scorer
        self.chat = input_format(scorer) == "chat"
        self.info = {k: v for k, v in describe(scorer).items() if k != "path"}
        self._lock = threading.Lock()

    def rewards(self, queries: list[str], prompts: list[str] | None) -> list[float]:
        if not queries:
            return []
        with self._lock:
            if self.chat:
                return [float(r) for r in self.scorer.score_texts(queries, prompts)]
            rows = [{"prompt": p, "response": q[len(p):]} for q, p in zip(queries, prompts)]
            return [float(r) for r in self.scorer.score_responses(rows)]


def build_app(scorer, api_key: str | None = None, max_queries: int = MAX_QUERIES, max_bytes: int = MAX_BYTES):
    """The FastAPI app serving `scorer` (see the module doc); `api_key`: required of every
    /get_reward request as `Authorization: Bearer KEY` or `X-API-Key: KEY` (None: open)."""
    from fastapi import FastAPI, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import JSONResponse

    service = RewardService(scorer)
    app = FastAPI(title="rm_lab reward model", description="OpenRLHF's remote reward protocol")

    @app.exception_handler(RequestError)
    async def refused(request: Request, err: RequestError):
        return JSONResponse({"detail": err.reason}, status_code=err.status)

    def check_key(request: Request) -> None:
        if not api_key:
            return
        given = request.headers.get("x-api-key") or ""
        bearer = request.headers.get("authorization") or ""
        if bearer.lower().startswith("bearer "):
            given = given or bearer[7:].strip()
        if not hmac.compare_digest(given.encode(), api_key.encode()):
            raise RequestError(401, "a valid API key is required: send it as 'Authorization: Bearer KEY' or "
                                    "'X-API-Key: KEY'")

    async def read_body(request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_bytes):
            raise RequestError(413, f"the request body is over {max_bytes} bytes (--max-bytes): split the batch")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                raise RequestError(413, f"the request body is over {max_bytes} bytes (--max-bytes): split the batch")
        return bytes(body)

    @app.get("/health")
    async def health():
        return {"status": "ok", **service.info}

    @app.post("/get_reward")
    async def get_reward(request: Request):
        check_key(request)
        body = await read_body(request)
        try:
            data = json.loads(body)
        except ValueError as err:
            raise RequestError(400, f"the body is not JSON ({err})") from None
        queries, prompts = parse_request(data, service.chat, max_queries)
        try:
            rewards = await run_in_threadpool(service.rewards, queries, prompts)
        except (ValueError, TypeError) as err:
            raise RequestError(422, f"the queries cannot be scored: {err}") from None
        return {"rewards": rewards, "scores": rewards}

    return app
