"""What a call costs, exactly, from the policy's prices (docs/architecture.md).

Money is counted in integer nano-USD (1e-9 USD) so sums never drift; floats appear only at the
edges (the public functions take and return USD). Prices are USD per million tokens, so one token
at price P costs P * 1e-6 USD; we multiply tokens by the price in nano-USD per million tokens,
which yields femto-USD (1e-15), and round UP to whole nano-USD: the ledger may over-count a
fraction of a nano-dollar, never under-count.
"""

from __future__ import annotations

import functools
from decimal import ROUND_HALF_EVEN, Decimal

from app.config import ModelPrice
from app.config.teams import GLOBAL_SCOPE
from app.errors import BudgetExceededError
from app.llm.base import Usage

NANO_PER_USD = 1_000_000_000
_FEMTO_PER_NANO = 1_000_000

# The smallest answer worth paying for: below this a clamped request is refused instead.
MIN_USEFUL_OUTPUT_TOKENS = 16
# Tokens the Messages API adds around each text (role markers, message framing).
MESSAGE_OVERHEAD_TOKENS = 16


@functools.lru_cache(maxsize=4096)
def usd_to_nano(usd: float) -> int:
    """Nearest whole nano-USD. Goes through the decimal repr so 0.1 becomes exactly 1e8.
    Memoised: the ledger converts the same policy limits on every reserve and settle."""
    if usd < 0:
        raise ValueError(f"money cannot be negative: {usd!r}")
    return int((Decimal(repr(usd)) * NANO_PER_USD).to_integral_value(ROUND_HALF_EVEN))


def nano_to_usd(nano: int) -> float:
    return nano / NANO_PER_USD


def _nano_per_mtok(usd_per_mtok: float) -> int:
    return usd_to_nano(usd_per_mtok)


def _femto_to_nano_ceil(femto: int) -> int:
    return -(-femto // _FEMTO_PER_NANO)


def cost_nano(usage: Usage, price: ModelPrice) -> int:
    """Exact cost of a completed call. `input_tokens` excludes cache reads and writes
    (Anthropic's usage), so each kind is priced once, at its own rate."""
    femto = (
        usage.input_tokens * _nano_per_mtok(price.input)
        + usage.output_tokens * _nano_per_mtok(price.output)
        + usage.cache_read_tokens * _nano_per_mtok(price.cache_read)
        + usage.cache_write_5m_tokens * _nano_per_mtok(price.cache_write_5m)
        + usage.cache_write_1h_tokens * _nano_per_mtok(price.cache_write_1h)
    )
    return _femto_to_nano_ceil(femto)


def cost_usd(usage: Usage, price: ModelPrice) -> float:
    return nano_to_usd(cost_nano(usage, price))


def _input_rate(price: ModelPrice, prompt_caching: bool) -> int:
    """Per-input-token rate for a worst case. With prompt caching an input token may be billed
    as a cache write, which costs more than plain input; take the dearest."""
    if not prompt_caching:
        return _nano_per_mtok(price.input)
    return max(_nano_per_mtok(p) for p in (price.input, price.cache_write_5m, price.cache_write_1h))


def _worst_case_femto(
    input_tokens: int, max_tokens: int, price: ModelPrice, prompt_caching: bool
) -> int:
    if input_tokens < 0 or max_tokens < 0:
        raise ValueError("token counts cannot be negative")
    return input_tokens * _input_rate(price, prompt_caching) + max_tokens * _nano_per_mtok(
        price.output
    )


def worst_case_nano(
    input_tokens: int, max_tokens: int, price: ModelPrice, *, prompt_caching: bool = False
) -> int:
    return _femto_to_nano_ceil(_worst_case_femto(input_tokens, max_tokens, price, prompt_caching))


def worst_case_usd(
    input_tokens: int, max_tokens: int, price: ModelPrice, *, prompt_caching: bool = False
) -> float:
    """The most a call can cost: every input token at the input price (or the dearest cache
    write price when `prompt_caching`) plus all `max_tokens` generated at the output price."""
    return nano_to_usd(
        worst_case_nano(input_tokens, max_tokens, price, prompt_caching=prompt_caching)
    )


def estimate_input_tokens(text: str) -> int:
    """An upper bound on the tokens `text` becomes, without asking the API.

    Claude's tokenizer averages ~4 characters per token on English prose and ~3.5 on code, logs
    and YAML; we count ASCII at 3 characters per token. A non-ASCII character is counted as
    (its UTF-8 length - 1) tokens, at least 1: accented Latin and Cyrillic (2 bytes) take at
    most one token each, CJK (3 bytes) one to two, emoji (4 bytes) up to three. A fixed framing
    overhead is added. Over-estimating only reserves a little more budget for a few seconds
    (settle records the real usage); under-estimating could let a window go over, so we err high.
    Deliberately adversarial text (random base64 of the maximum question length) can still beat
    the ASCII rate by a little; the question length limit bounds that error.
    """
    # Counted by the codecs in C, not per character in Python (a paid request estimates a few
    # kB of runbook text; the loop was 5 % of its CPU). A non-ASCII character of n UTF-8 bytes
    # counts n - 1 (>= 1) tokens, so together they count (UTF-8 bytes) - (characters);
    # a lone surrogate (invalid JSON text a client can still send) counts as its 3 bytes.
    ascii_chars = len(text.encode("ascii", "ignore"))
    other_tokens = len(text.encode("utf-8", "surrogatepass")) - len(text)
    return -(-ascii_chars // 3) + other_tokens + MESSAGE_OVERHEAD_TOKENS


def clamp_max_tokens(
    input_tokens: int,
    max_tokens: int,
    price: ModelPrice,
    per_request_usd: float,
    *,
    prompt_caching: bool = False,
    scope: str = GLOBAL_SCOPE,
) -> int:
    """The largest max_tokens <= the requested one whose worst case fits `per_request_usd`.

    Refuses (BudgetExceededError, window "per_request") when the prompt leaves room for fewer
    than MIN_USEFUL_OUTPUT_TOKENS (or the requested max, if smaller): such an answer would be
    cut off before it says anything. `scope` is whose limit it is ("global" or a team): the
    refusal names it.
    """
    limit_femto = usd_to_nano(per_request_usd) * _FEMTO_PER_NANO
    input_femto = _worst_case_femto(input_tokens, 0, price, prompt_caching)
    output_rate = _nano_per_mtok(price.output)
    room = limit_femto - input_femto
    fitting = max_tokens if output_rate == 0 else max(room, -1) // output_rate
    needed = min(max_tokens, MIN_USEFUL_OUTPUT_TOKENS)
    if room < 0 or fitting < needed:
        prompt_usd = nano_to_usd(
            worst_case_nano(input_tokens, needed, price, prompt_caching=prompt_caching)
        )
        owner = "" if scope == GLOBAL_SCOPE else f"team {scope}'s "
        raise BudgetExceededError(
            f"prompt needs ~${prompt_usd:.4f} (about {input_tokens} input tokens plus a minimal "
            f"answer), {owner}per-request limit is ${per_request_usd:.4f}",
            window="per_request",
            retry_after_seconds=0,
            scope=scope,
        )
    return int(min(max_tokens, fitting))
