"""Singleton detection and peeling across groups.

The bins of all groups are decoded together (see :mod:`interspect.engines.spex.decoding`). A decoded
key ``k`` from bin ``j`` of group ``c`` is accepted only if

- it hashes back to the same bin (``M_cᵀ k = j``),
- removing ``ρ · signature(k)`` leaves at most ``residual_cutoff`` of the bin's energy, where
  ``ρ = mean_p (−1)^{⟨d_p, k⟩} U_{c,p}[j]``, and
- (with two or more groups) every other group sees the same coefficient, within
  ``cross_tolerance`` of ρ, in the bin ``k`` hashes to there. A miscorrected key (for instance
  from an interaction of degree above ``t``, or a Chase candidate from a crowded bin) lands in
  unrelated bins of the other groups, so this check is what keeps it out. (Accepting keys that
  only one other group confirms recovers nothing extra on planted games but lets many more
  wrong keys through when interactions exceed ``t``.)

Accepted coefficients are subtracted from their bin in every group; the changed bins are decoded
again; the loop ends when a round accepts nothing new.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from interspect.engines.spex.decoding import chase_candidates, decode_syndromes, syndromes
from interspect.engines.spex.design import Design

__all__ = ["peel", "bin_transform"]


def bin_transform(y: np.ndarray) -> np.ndarray:
    """Normalised WHT over the last axis: ``U[..., j] = 2^{-b} Σ_ℓ y[..., ℓ] (−1)^{⟨j, ℓ⟩}``."""
    a = np.array(y, dtype=float)
    size = a.shape[-1]
    lead = a.shape[:-1]
    h = 1
    while h < size:
        a = a.reshape(*lead, -1, 2, h)
        a = np.concatenate((a[..., 0:1, :] + a[..., 1:2, :], a[..., 0:1, :] - a[..., 1:2, :]), axis=-2)
        h *= 2
    return a.reshape(*lead, size) / size


class _Keys:
    """Hashes and delay signatures of interaction keys under a design."""

    def __init__(self, design: Design) -> None:
        self.hash = np.ascontiguousarray(design.hash_int.T)  # (n, C)
        self.dbits = np.ascontiguousarray(design.D.T)  # (n, p+1)
        self.n_delays = design.n_delays
        self.n_groups = design.n_groups

    def hashes(self, key: tuple[int, ...]) -> np.ndarray:
        if not key:
            return np.zeros(self.n_groups, dtype=np.int64)
        return np.bitwise_xor.reduce(self.hash[list(key)], axis=0)

    def signs(self, key: tuple[int, ...]) -> np.ndarray:
        if not key:
            return np.ones(self.n_delays)
        bits = np.bitwise_xor.reduce(self.dbits[list(key)], axis=0)
        return 1.0 - 2.0 * bits


class _Peeler:
    """The state of one peeling run: the bins ``U`` (modified in place), which bins changed, and
    the candidate keys decoded from each bin so far."""

    def __init__(self, U: np.ndarray, design: Design, *, decoder: str, residual_cutoff: float,
                 cross_tolerance: float, chase_patterns: int) -> None:
        self.U = U
        self.C, self.P1, self.B = U.shape
        self.code = design.code
        self.keys = _Keys(design)
        self.decoder = decoder
        self.residual_cutoff = residual_cutoff
        self.cross_tolerance = cross_tolerance
        self.chase_patterns = chase_patterns
        energy = np.einsum("cpj,cpj->cj", U, U)
        self.floor = 1e-24 * max(float(energy.max()), 1e-300)  # bins at round-off level are empty
        self.dirty = np.ones((self.C, self.B), dtype=bool)
        self.candidates: dict[tuple[int, int], list[tuple[int, ...]]] = {}

    def fit(self, c: int, j: int, key: tuple[int, ...]) -> tuple[float, float, np.ndarray]:
        """``ρ`` of ``key`` in bin (c, j), the bin's residual energy share after removing it, and
        the key's delay signs."""
        s = self.keys.signs(key)
        u = self.U[c, :, j]
        rho = float(s @ u) / self.P1
        e = float(u @ u)
        res = float(((u - rho * s) ** 2).sum()) / e if e > 0 else 1.0
        return rho, res, s

    def decode_bins(self, cs: np.ndarray, js: np.ndarray, soft: bool) -> list[list[tuple[int, ...]]]:
        """Keys decoded from bins (cs, js) that hash back to their bin, best fit first."""
        code = self.code
        u = self.U[cs, :, js]  # (N, P1)
        ref = np.where(u[:, 0] < 0, -1.0, 1.0)
        rel = u[:, 1:] * ref[:, None]
        if soft:
            S, _ = chase_candidates(code, rel, depth=2 * code.t, n_patterns=self.chase_patterns)
        else:
            S = syndromes(code, rel < 0)[:, None, :]
        N, P = S.shape[:2]
        res = decode_syndromes(code, S.reshape(N * P, -1))
        out: list[list[tuple[int, ...]]] = []
        for i in range(N):
            c, j = int(cs[i]), int(js[i])
            seen: set[tuple[int, ...]] = set()
            scored = []
            for w in range(i * P, (i + 1) * P):
                key = res.keys[w]
                if not res.ok[w] or key is None or key in seen:
                    continue
                seen.add(key)
                if int(self.keys.hashes(key)[c]) != j:
                    continue
                rho, r, _ = self.fit(c, j, key)
                scored.append((r, int(res.n_corrections[w]), key))
            scored.sort(key=lambda item: (item[0], item[1], item[2]))
            out.append([item[2] for item in scored[:3]])
        return out

    def decode_changed(self) -> None:
        """Decode every bin that changed since the last round: hard decisions first, Chase
        decoding (soft) for the bins where they fail."""
        energy = np.einsum("cpj,cpj->cj", self.U, self.U)
        active = self.dirty & (energy > self.floor)
        for c, j in zip(*np.nonzero(self.dirty & ~active)):
            self.candidates.pop((int(c), int(j)), None)
        cs, js = np.nonzero(active)
        if cs.size:
            retry = []
            for i, lst in enumerate(self.decode_bins(cs, js, soft=False)):
                c, j = int(cs[i]), int(js[i])
                good = [k for k in lst if self.fit(c, j, k)[1] <= self.residual_cutoff]
                if good or self.decoder == "hard":
                    self.candidates[(c, j)] = good
                else:
                    retry.append(i)
            if retry:
                ridx = np.array(retry)
                for i, lst in zip(retry, self.decode_bins(cs[ridx], js[ridx], soft=True)):
                    self.candidates[(int(cs[i]), int(js[i]))] = lst
        self.dirty[:] = False

    def verify(self) -> dict[tuple[int, ...], list[float]]:
        """Candidates that pass the bin and cross-group checks, with their ρ values."""
        C, P1, U = self.C, self.P1, self.U
        accepted: dict[tuple[int, ...], list[float]] = {}
        for (c, j), lst in sorted(self.candidates.items()):
            for key in lst:
                rho, r, s = self.fit(c, j, key)
                if r > self.residual_cutoff or rho == 0.0:
                    continue
                if C > 1:
                    h = self.keys.hashes(key)
                    agree = sum(
                        abs(float(s @ U[c2, :, h[c2]]) / P1 - rho) <= self.cross_tolerance * abs(rho)
                        for c2 in range(C)
                        if c2 != c
                    )
                    if agree < C - 1:
                        continue
                accepted.setdefault(key, []).append(rho)
                break
        return accepted

    def subtract(self, key: tuple[int, ...], rho: float) -> None:
        """Remove an accepted coefficient from the bin it hashes to in every group."""
        h = self.keys.hashes(key)
        s = self.keys.signs(key)
        for c in range(self.C):
            self.U[c, :, h[c]] -= rho * s
            self.dirty[c, h[c]] = True
            self.candidates.pop((c, int(h[c])), None)


def peel(
    U: np.ndarray,
    design: Design,
    *,
    decoder: Literal["soft", "hard"] = "soft",
    residual_cutoff: float = 0.9,
    cross_tolerance: float = 0.5,
    chase_patterns: int = 64,
    max_rounds: int = 100,
    progress: Callable[[int, int], None] | None = None,
) -> dict[tuple[int, ...], float]:
    """Find the sparse Fourier coefficients hidden in the bins ``U`` (C, p+1, 2^b); modifies U.

    Each round decodes the bins that changed, accepts the candidates that pass the bin and
    cross-group checks (ρ averaged over the bins that found a key) and peels them from every
    group; it stops when a round accepts nothing.
    """
    peeler = _Peeler(U, design, decoder=decoder, residual_cutoff=residual_cutoff,
                     cross_tolerance=cross_tolerance, chase_patterns=chase_patterns)
    found: dict[tuple[int, ...], float] = {}
    for rnd in range(max_rounds):
        peeler.decode_changed()
        accepted = peeler.verify()
        if progress is not None:
            progress(rnd + 1, max_rounds)
        if not accepted:
            break
        for key in sorted(accepted):
            rho = float(np.mean(accepted[key]))
            found[key] = found.get(key, 0.0) + rho
            peeler.subtract(key, rho)
    return found
