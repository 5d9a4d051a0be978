"""Mean and standard deviation over seeds, and the noise test between a cell and the best row.

The test is Welch's two-sided t-test (scipy.stats.ttest_ind, equal_var=False) on the per-seed
values of the two rows: it does not assume equal variances, and with few seeds it is honest
about how little they show. A cell "differs from the best" when p < alpha (0.05 by default);
otherwise it is within noise of the best. The router paper used a fixed 0.02 rule instead.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

from scipy import stats

TEST_NAME = "Welch's two-sided t-test over seeds"
BEST, WITHIN_NOISE, DIFFERS, UNTESTED = "best", "within_noise", "differs", "untested"


@dataclass
class Summary:
    values: list[float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return sum(self.values) / self.n if self.values else None

    @property
    def std(self) -> float | None:
        """Sample standard deviation (ddof=1); None with fewer than two seeds."""
        if self.n < 2:
            return None
        mean = self.mean
        return math.sqrt(sum((v - mean) ** 2 for v in self.values) / (self.n - 1))


def welch_p(a: list[float], b: list[float]) -> float | None:
    """Two-sided p-value of Welch's t-test; None when either side has fewer than two values.

    Two constant samples (zero variance, e.g. deterministic parameter counts) give p = 1 when
    their means are equal and p = 0 when they are not.
    """
    if len(a) < 2 or len(b) < 2:
        return None
    sa, sb = Summary(list(a)), Summary(list(b))
    scale = max(abs(sa.mean), abs(sb.mean), 1e-300)
    if sa.std <= 1e-12 * scale and sb.std <= 1e-12 * scale:  # constant up to rounding
        return 1.0 if math.isclose(sa.mean, sb.mean, rel_tol=1e-9) else 0.0
    with warnings.catch_warnings():  # one constant side is fine for Welch; scipy warns anyway
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def verdict(best: list[float], other: list[float], alpha: float = 0.05) -> tuple[str, float | None]:
    """(DIFFERS | WITHIN_NOISE | UNTESTED, p) for `other` against the best row's values."""
    p = welch_p(best, other)
    if p is None:
        return UNTESTED, None
    return (DIFFERS if p < alpha else WITHIN_NOISE), p
