"""Python ports of fa-bench's seeded host-side generators, value for value, so that a peer in
scripts/peers.py runs on exactly the data fa-bench's own variants see:

  SplitMix64             core/seeded_random.hpp's SplitMix (next, below)
  make_sequence_lengths  decode's mixed lengths (core/kv_cache_layout.cpp)
  SparseMaskPort         op sparse_attention's masks (core/sparse_mask.cpp): every pattern (random,
                         window, causal, causal_window, documents, global_window, file) as an element
                         mask (numpy), per-row kept counts, and the data a FlexAttention mask_mod
                         indexes (peers.py's flex_mask_mod)

Only the standard library and numpy (the sparse masks): tests/sparse_mask_port_test.py compares the
masks with fa-bench's own on a machine without torch.
"""
import math
import os

try:
    import numpy as np
except ImportError:  # decode's lengths need no numpy; the sparse masks do
    np = None

MASK64 = (1 << 64) - 1


class SplitMix64:
    """splitmix64, as src/core/seeded_random.hpp defines it (the stream is fixed by its definition)."""
    MASK = MASK64

    def __init__(self, state):
        self.state = state & self.MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def below(self, n):
        """Uniform in [0, n) without bias: draws under 2^64 mod n are rejected, as in C++."""
        reject_below = ((1 << 64) - n) % n
        while True:
            r = self.next()
            if r >= reject_below:
                return r % n


LENGTHS_STREAM = 0x6C656E67746873  # "lengths", kv_cache_layout.cpp's kLengthsStream


def make_sequence_lengths(mixed, batch, q_len, cache_len, seed):
    """fa-bench's make_sequence_lengths (src/core/kv_cache_layout.cpp), value for value: every
    sequence cache_len, or seeded lengths in [q_len, cache_len] with a seeded one at cache_len."""
    if batch < 1 or q_len < 1 or q_len > cache_len:
        raise ValueError(f"sequence lengths need batch >= 1 and 1 <= q_len <= cache_len, got batch {batch}, "
                         f"q_len {q_len}, cache_len {cache_len}")
    if not mixed:
        return [cache_len] * batch
    rng = SplitMix64(seed ^ LENGTHS_STREAM)
    span = cache_len - q_len + 1
    lengths = [q_len + rng.below(span) for _ in range(batch)]
    longest = rng.below(batch)
    lengths[longest] = cache_len
    if batch > 1 and span > 1 and all(x == cache_len for x in lengths):
        other = rng.below(batch - 1)
        if other >= longest:
            other += 1
        lengths[other] = q_len + rng.below(span - 1)
    return lengths


# ---- sparse_attention's masks (core/sparse_mask.cpp) ---------------------------------------------

RANDOM_BLOCKS_SALT = 0x5350415253452D42  # "SPARSE-B", sparse_mask.cpp's kRandomBlocksSalt
DOCUMENTS_SALT = 0x5350415253452D44  # "SPARSE-D", kDocumentsSalt
PATTERNS = ("random", "window", "causal", "causal_window", "documents", "global_window", "file")


class MaskFileError(Exception):
    """A mask file that cannot be used (as fa-bench's MaskFileError: the message names the file)."""


def mask_rng(seed, salt, m):
    """sparse_mask.cpp's mask_rng: each mask's own stream from the problem's seed, a salt and the mask index."""
    rng = SplitMix64(((seed * 0x100000001B3) & MASK64) ^ salt)
    rng.state = (rng.state + m * 0x9E3779B97F4A7C15) & MASK64
    rng.next()
    return rng


def llround(x):
    """C's llround for x >= 0: halves away from zero (Python's round() goes to even)."""
    f = math.floor(x)
    return int(f) + (1 if x - f >= 0.5 else 0)


def random_document_lengths(count, total, seed, m):
    """sparse_mask.cpp's random_document_lengths: count - 1 distinct cuts among 1 .. total - 1 by a
    seeded partial Fisher-Yates shuffle, sorted; the lengths between them."""
    if count < 1 or count > total:
        raise ValueError("documents: count must be in [1, seq_k]")
    candidates = list(range(1, total))
    rng = mask_rng(seed, DOCUMENTS_SALT, m)
    for t in range(count - 1):
        pick = t + rng.below(total - 1 - t)
        candidates[t], candidates[pick] = candidates[pick], candidates[t]
    cuts = sorted(candidates[:count - 1])
    lengths, last = [], 0
    for c in cuts:
        lengths.append(c - last)
        last = c
    lengths.append(total - last)
    return lengths


def random_block_bits(q_blocks, k_blocks, density, seed, m):
    """The kept blocks of random mask m, uint8 [q_blocks, k_blocks]: exactly llround(density * n) of
    the n blocks (at least one), by sparse_mask.cpp's seeded partial Fisher-Yates shuffle."""
    n = q_blocks * k_blocks
    want = min(max(llround(density * float(n)), 1), n)
    order = list(range(n))
    rng = mask_rng(seed, RANDOM_BLOCKS_SALT, m)
    bits = np.zeros(n, dtype=np.uint8)
    for t in range(want):
        pick = t + rng.below(n - t)
        order[t], order[pick] = order[pick], order[t]
    bits[order[:want]] = 1
    return bits.reshape(q_blocks, k_blocks)


def read_npy_mask(path):
    """sparse_mask.cpp's read_npy_mask: a .npy of uint8 or bool in C order, every value 0 or 1; numpy
    reads the bytes, the checks are fa-bench's. Returns a uint8 array."""
    if not os.path.exists(path):
        raise MaskFileError(f'mask file "{path}": cannot be read (missing or not readable)')
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            header = (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = header(f)
            data_start = f.tell()
    except (ValueError, OSError) as e:
        raise MaskFileError(f'mask file "{path}": not a readable .npy ({e})')
    if dtype not in (np.dtype(np.uint8), np.dtype(np.bool_)):
        raise MaskFileError(f"mask file \"{path}\": wrong dtype '{dtype.str}' (expected uint8 '|u1' or bool '|b1')")
    if fortran:
        raise MaskFileError(f'mask file "{path}": Fortran order (write it in C order: numpy.ascontiguousarray)')
    count, have = math.prod(shape), os.path.getsize(path) - data_start
    if have < count:
        raise MaskFileError(f'mask file "{path}": truncated data: {have} bytes of the {count} that shape {shape} holds')
    if have > count:
        raise MaskFileError(f'mask file "{path}": {have - count} bytes after the {count} that shape {shape} holds')
    try:
        values = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise MaskFileError(f'mask file "{path}": {e}')
    values = values.astype(np.uint8)
    if values.size and values.max() > 1:
        at = np.unravel_index(int(np.argmax(values > 1)), values.shape)
        raise MaskFileError(f'mask file "{path}": value {values[at]} at [{", ".join(map(str, at))}] is not 0 or 1')
    return values


def parse_documents(text):
    """The plan's documents column: "random:N" -> (N, None); "1024+3072" -> (0, [1024, 3072])."""
    if text.startswith("random:"):
        return int(text[len("random:"):]), None
    return 0, [int(x) for x in text.split("+")]


class SparseMaskPort:
    """The mask of a sparse_attention problem, as fa-bench's SparseMask builds it, from a plan case's
    row and seed. Rows are query rows i in [0, seq_q), keys j in [0, seq_k); query i stands at key
    position t = i + seq_k - seq_q (bottom-right aligned). Mask m of (batch b, head h) is
    b * heads + h when per_head, else 0.

    source: "ranges" (window, causal, causal_window, global_window: computed from indices),
    "documents" (doc_ids[m][j]: the document of key j), "blocks" (bits[m]: uint8 [q_blocks,
    k_blocks]) or "elements" (bits[m]: uint8 [seq_q, seq_k])."""

    def __init__(self, row, seed):
        if np is None:
            raise RuntimeError("the sparse mask port needs numpy: python3 -m pip install -r scripts/requirements.txt")
        self.pattern = row["pattern"]
        self.batch, self.heads = int(row["batch"]), int(row["heads"])
        self.seq_q, self.seq_k = int(row["seq_q"]), int(row["seq_k"])
        self.block = int(row["block"])
        self.window = int(row["window"] or 0)
        self.global_tokens = int(row["global_tokens"] or 0)
        self.per_head = bool(row["mask_per_head"])
        self.seed = int(seed)
        self.bits, self.doc_ids, self.doc_starts = [], [], []
        sq, sk = self.seq_q, self.seq_k
        if self.pattern in ("window", "causal_window", "global_window", "causal"):
            if self.pattern != "causal" and self.window < 1:
                raise ValueError("sparse mask: window must be at least 1")
            self.source = "ranges"
            self.per_head = False
        elif self.pattern == "documents":
            self.source = "documents"
            count, given = parse_documents(row["documents"])
            for m in range(self.count):
                lengths = random_document_lengths(count, sk, self.seed, m) if count > 0 else given
                if sum(lengths) != sk:
                    raise ValueError("sparse mask: document lengths must sum to seq_k")
                starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
                self.doc_starts.append(starts)
                self.doc_ids.append(np.repeat(np.arange(len(lengths), dtype=np.int32), lengths))
        elif self.pattern == "random":
            density = float(row["density_requested"])
            if not 0 < density <= 1:
                raise ValueError("sparse mask: density must be in (0, 1]")
            self.source = "blocks"
            self.bits = [random_block_bits(self.q_blocks, self.k_blocks, density, self.seed, m)
                         for m in range(self.count)]
        elif self.pattern == "file":
            path = row["mask_file"]
            values = read_npy_mask(path)
            s = values.shape
            misfit = MaskFileError(
                f'mask file "{path}": wrong size for the shape: ({", ".join(map(str, s))}) is neither [seq_q, seq_k] = '
                f"[{sq}, {sk}] (elements) nor [{self.q_blocks}, {self.k_blocks}] (blocks of {self.block}), optionally "
                f"after [batch, heads] = [{self.batch}, {self.heads}]")
            if len(s) not in (2, 4) or (len(s) == 4 and (s[0] != self.batch or s[1] != self.heads)):
                raise misfit
            rows, cols = s[-2], s[-1]
            if rows == sq and cols == sk:
                self.source = "elements"
            elif rows == self.q_blocks and cols == self.k_blocks:
                self.source = "blocks"
            else:
                raise misfit
            self.per_head = len(s) == 4
            values = values.reshape(-1, rows, cols)
            self.bits = [values[m] for m in range(self.count)]
        else:
            raise ValueError(f"sparse mask: unknown pattern {self.pattern!r}")

    @property
    def q_blocks(self):
        return (self.seq_q + self.block - 1) // self.block

    @property
    def k_blocks(self):
        return (self.seq_k + self.block - 1) // self.block

    @property
    def count(self):
        """1 when shared, batch * heads when per head."""
        return self.batch * self.heads if self.per_head else 1

    def index(self, b, h):
        return b * self.heads + h if self.per_head else 0

    def _ranges_rows(self, i):
        """For query rows i (an int64 array): (lo, hi) of the window part, and the global part's end
        g (keys [0, g)) and whether the row sees every key, each clipped to [0, seq_k)."""
        sk, W, G = self.seq_k, self.window, self.global_tokens
        t = i + (sk - self.seq_q)
        everything = np.zeros(t.shape, dtype=bool)
        g = np.zeros(t.shape, dtype=np.int64)
        if self.pattern == "causal":
            lo, hi = np.zeros_like(t), t + 1
        elif self.pattern == "window":
            lo = t - W // 2
            hi = lo + W
        elif self.pattern == "causal_window":
            lo, hi = t - W + 1, t + 1
        else:  # global_window
            lo = t - W // 2
            hi = lo + W
            everything = (t >= 0) & (t < G)
            g[:] = min(G, sk)
        return np.clip(lo, 0, sk), np.clip(hi, 0, sk), g, everything

    def rows(self, m, i0=0, i1=None):
        """The element mask of query rows [i0, i1) of mask m: bool [i1 - i0, seq_k]."""
        i1 = self.seq_q if i1 is None else i1
        i = np.arange(i0, i1, dtype=np.int64)[:, None]
        j = np.arange(self.seq_k, dtype=np.int64)[None, :]
        if self.source == "ranges":
            lo, hi, g, everything = self._ranges_rows(i)
            return ((j >= lo) & (j < hi)) | (j < g) | everything
        if self.source == "documents":
            t = i + (self.seq_k - self.seq_q)
            ids = self.doc_ids[m]
            valid = (t >= 0) & (t < self.seq_k)
            return valid & (ids[np.clip(t, 0, self.seq_k - 1)] == ids[j])
        bits = self.bits[m]
        if self.source == "blocks":
            return bits[i // self.block, j // self.block].astype(bool)
        return bits[i0:i1].astype(bool)

    def row(self, m, i):
        """The kept keys of query row i of mask m: bool [seq_k]."""
        return self.rows(m, i, i + 1)[0]

    def element_mask(self, m):
        """bool [seq_q, seq_k]: the whole element mask of mask m (small shapes)."""
        return self.rows(m)

    def row_counts(self, m):
        """Kept keys of each query row of mask m: int64 [seq_q], without building the element mask."""
        sq, sk = self.seq_q, self.seq_k
        i = np.arange(sq, dtype=np.int64)
        if self.source == "ranges":
            lo, hi, g, everything = self._ranges_rows(i)
            window = np.maximum(hi - np.maximum(lo, g), 0)  # the window's keys past the global ones
            return np.where(everything, sk, g + window)
        if self.source == "documents":
            t = i + (sk - sq)
            starts = self.doc_starts[m]
            valid = (t >= 0) & (t < sk)
            d = np.searchsorted(starts, np.clip(t, 0, sk - 1), side="right") - 1
            return np.where(valid, starts[d + 1] - starts[d], 0)
        bits = self.bits[m]
        if self.source == "blocks":
            widths = np.minimum(sk, (np.arange(self.k_blocks) + 1) * self.block) - np.arange(self.k_blocks) * self.block
            per_block_row = bits.astype(np.int64) @ widths
            return per_block_row[i // self.block]
        return bits.sum(axis=1, dtype=np.int64)

    def kept_total(self):
        """Kept scores over every batch and head (a shared mask counts batch * heads times), as
        SparseMask::kept_total: the FLOP model's count."""
        kept = sum(int(self.row_counts(m).sum()) for m in range(self.count))
        return kept if self.per_head else kept * self.batch * self.heads

    def classify(self, m):
        """SparseMask::classify of mask m: uint8 [q_blocks, k_blocks], 0 empty, 1 full, 2 partial (a
        block is full when every score of it that exists is kept). From the element mask: small shapes."""
        B, nq, nk = self.block, self.q_blocks, self.k_blocks
        e = np.zeros((nq * B, nk * B), dtype=np.int64)
        e[:self.seq_q, :self.seq_k] = self.element_mask(m)
        counts = e.reshape(nq, B, nk, B).sum(axis=(1, 3))
        heights = np.minimum(self.seq_q, (np.arange(nq) + 1) * B) - np.arange(nq) * B
        widths = np.minimum(self.seq_k, (np.arange(nk) + 1) * B) - np.arange(nk) * B
        area = heights[:, None] * widths[None, :]
        return np.where(counts == 0, 0, np.where(counts == area, 1, 2)).astype(np.uint8)
