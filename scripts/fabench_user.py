"""Declaring your own kernels for fa-bench (scripts/user_kernels.py runs them).

A module declares variants with the `variant` decorator or a module-level `VARIANTS` list of dicts
with the same fields; the runner validates each against a float64 reference and times it as
fa-bench does, over the cases of `fa-bench plan`:

    from fabench_user import Unsupported, variant

    @variant("triton.my_fa2", op="attention", dtypes=["fp16", "bf16"], head_dims=[64, 128],
             params={"BLOCK_M": [64, 128], "BLOCK_N": [32, 64]})
    def my_fa2(q, k, v, scale, causal, BLOCK_M, BLOCK_N):
        ...
        return o, lse

Fields (only name, op and fn are required; anything else is an error naming the field):
- name: the variant's name in the rows (`triton.my_fa2`): letters, digits, `_ . -`, unique.
- op: attention, softmax, softmax_matmul, sparse_attention or attention_bwd.
- fn: the function (the decorated one). It gets the op's tensors positionally and, by keyword,
  the problem's values and one value of each parameter; it may take only the keywords it names
  (or **kwargs). It returns the op's outputs as new tensors (see OPS below).
- dtypes: the dtypes it takes (default: every dtype of the op). Others are `unsupported` rows.
- head_dims: attention, sparse_attention and attention_bwd, the head dims it takes (default: any).
- params: {name: [values]}: the tunable parameters; every combination is a case (the cartesian
  product in the order written, the last varying fastest), keyed `NAME=value,NAME=value` as
  fa-bench keys its own parameters. Values are ints, floats, strings or bools.
- supports: fn(problem, **params) -> a reason (str) the case cannot run, or None.
- description: one line of what it does.

A case it cannot run may also raise `Unsupported("why")` from fn: the row is `unsupported` with
that reason. Any other exception is a row too (OutOfResources and Triton's compile-time assertions
`unsupported`, out of memory `oom`, the rest `launch_error`); the sweep goes on.
"""
import inspect
import re

DTYPES = ("fp32", "tf32", "fp16", "bf16")

# What fn receives for each op: tensors positionally (in this order), then keywords. The problem's
# values are also there by keyword for supports(problem) (`problem` is a dict of these and the
# plan row's shape columns).
OPS = {
    "attention": {
        "tensors": ("q", "k", "v"),
        # q [batch, heads, seq_q, d], k and v [batch, kv_heads, seq_k, d] (GQA: heads a multiple of
        # kv_heads, query head h reads KV head h // (heads / kv_heads)); causal is bottom-right
        # aligned: query i sees keys j <= i + seq_k - seq_q (a query that sees none: O = 0, lse = -inf).
        "keywords": ("scale", "causal", "dtype", "batch", "heads", "kv_heads", "seq_q", "seq_k", "head_dim"),
        "returns": "o [batch, heads, seq_q, d] in the input dtype, or (o, lse) with lse [batch, heads, seq_q] "
                   "float32, the natural log-sum-exp of scale * q k^T over the visible keys (validated when returned)",
    },
    "softmax": {
        "tensors": ("x",),
        # x [rows, cols]; y = dropout(softmax(scale * x)) over the kept columns: mask "none",
        # "causal" (column c of row r kept when c <= r mod cols), "tensor" (mask uint8 [rows, cols],
        # 1 = kept) or "lengths" (lengths int32 [rows]: c < lengths[r]); a row that keeps nothing is
        # zeros. dropout p > 0: element i = r * cols + c is dropped as fa-bench drops it (Philox4x32-10
        # with key `seed`, counter i / 8, 16 bits per element; see fabench_core.dropout_keep), kept
        # values scaled by 1 / (1 - p). mask and lengths are None when the case has none.
        "keywords": ("scale", "mask_kind", "mask", "lengths", "dropout", "seed", "dtype", "rows", "cols"),
        "returns": "y [rows, cols] in the input dtype",
    },
    "softmax_matmul": {
        "tensors": ("x", "v"),
        # x [batch, d1, d2], v [batch, d2, d3] (seed 004 part 1): softmax(x, dim=-1) @ v.
        "keywords": ("dtype", "batch", "d1", "d2", "d3"),
        "returns": "o [batch, d1, d3] in the input dtype",
    },
    "sparse_attention": {
        "tensors": ("q", "k", "v"),
        # q, k, v as attention's (GQA alike), and fa-bench's mask of the problem (every pattern, rebuilt
        # by scripts/fabench_port.py, made by the runner outside the timed call, counted as inputs).
        # Mask m of (batch b, head h) is b * heads + h when masks > 1 (per-head masks), else 0; blocks
        # are `block` x `block` (64 or 128), query block i holds rows [i * block, (i + 1) * block):
        #   block_kind   uint8 [masks, q_blocks, k_blocks]: 0 empty (skip it), 1 full (every score of it
        #                that exists is kept: no mask), 2 partial (apply `mask`);
        #   kv_num_blocks int32 [masks, q_blocks] and kv_indices int32 [masks, q_blocks, k_blocks]: the
        #                non-empty key blocks of each query block, ascending, in the first kv_num_blocks
        #                entries (the rest -1): the per-query-block list (CSR-like, Flex's layout);
        #   mask         uint8 [masks, seq_q, seq_k], 1 = kept: the element mask (read it on partial
        #                blocks). Query i sees key j only where mask is 1; no causal flag (the pattern
        #                has it). A query row that keeps nothing: O = 0, lse = -inf.
        "keywords": ("scale", "dtype", "batch", "heads", "kv_heads", "seq_q", "seq_k", "head_dim", "block",
                     "masks", "block_kind", "kv_num_blocks", "kv_indices", "mask"),
        "returns": "(o, lse): o [batch, heads, seq_q, d] in the input dtype, lse [batch, heads, seq_q] float32 "
                   "(both validated, as the torch.flex_attention peer's)",
    },
    "attention_bwd": {
        "tensors": ("q", "k", "v", "o", "do", "lse"),
        # attention's q, k, v (GQA, causal bottom-right aligned), the forward's o (input dtype) and lse
        # (float32 [batch, heads, seq_q], -inf where a query sees no key) made by the runner outside the
        # timed call (a float32 forward), and do, the output's gradient, like q.
        "keywords": ("scale", "causal", "dtype", "batch", "heads", "kv_heads", "seq_q", "seq_k", "head_dim"),
        "returns": "(dq, dk, dv) like q, k, v in the input dtype (a KV head's dk, dv sum over its query heads)",
    },
}

HEAD_DIM_OPS = ("attention", "sparse_attention", "attention_bwd")
_FIELDS = ("name", "op", "fn", "dtypes", "head_dims", "params", "supports", "description")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_registry = []


class Unsupported(Exception):
    """Raised by a kernel (or returned as a reason by supports) for a case it cannot run."""


class DeclarationError(ValueError):
    """A variant declared wrongly: the message names the variant and the field."""


class Variant:
    """A checked declaration."""

    def __init__(self, name, op, fn, dtypes, head_dims, params, supports, description):
        self.name, self.op, self.fn = name, op, fn
        self.dtypes, self.head_dims, self.params = dtypes, head_dims, params
        self.supports, self.description = supports, description
        sig = inspect.signature(fn)
        self.takes_any = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
        self.keywords = {n for n, p in sig.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}

    def expand(self):
        """Every combination of the parameters' values: [(params dict, "A=1,B=2")], in order."""
        combos = [{}]
        for pname, values in self.params.items():
            combos = [dict(c, **{pname: v}) for c in combos for v in values]
        return [(c, params_text(c)) for c in combos]

    def call_keywords(self, problem, params):
        """The keywords fn takes, out of the problem's values and the parameters."""
        kw = dict(problem, **params)
        return kw if self.takes_any else {k: v for k, v in kw.items() if k in self.keywords}


def params_text(params):
    """fa-bench's parameter text: NAME=value joined by commas, in declaration order (bools lower case)."""
    def text(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return f"{v:g}"
        return str(v)

    return ",".join(f"{k}={text(v)}" for k, v in params.items())


def check_declaration(decl, where="VARIANTS"):
    """A Variant from a dict of fields, or DeclarationError naming what is wrong."""
    if not isinstance(decl, dict):
        raise DeclarationError(f"{where}: a variant is a dict of fields ({', '.join(_FIELDS)}), got {type(decl).__name__}")
    name = decl.get("name")
    label = f"variant {name!r}" if isinstance(name, str) else where

    def fail(field, why):
        raise DeclarationError(f"{label}: {field}: {why}")

    unknown = [k for k in decl if k not in _FIELDS]
    if unknown:
        fail(unknown[0], f"unknown field (the fields are {', '.join(_FIELDS)})")
    for req in ("name", "op", "fn"):
        if decl.get(req) is None:
            fail(req, "missing (name, op and fn are required)")
    if not isinstance(name, str) or not _NAME.match(name):
        fail("name", f"{name!r} is not a name of letters, digits, '_', '.' and '-' (e.g. triton.my_fa2)")
    op = decl["op"]
    if op not in OPS:
        fail("op", f"{op!r} is not one of {', '.join(OPS)}")
    fn = decl["fn"]
    if not callable(fn):
        fail("fn", f"{fn!r} is not callable")
    dtypes = decl.get("dtypes")
    if dtypes is None:
        dtypes = list(DTYPES)
    if isinstance(dtypes, str):
        dtypes = [dtypes]
    if not isinstance(dtypes, (list, tuple)) or not dtypes:
        fail("dtypes", "a non-empty list of " + ", ".join(DTYPES))
    for d in dtypes:
        if d not in DTYPES:
            fail("dtypes", f"{d!r} is not one of {', '.join(DTYPES)}")
    head_dims = decl.get("head_dims")
    if head_dims is not None:
        if op not in HEAD_DIM_OPS:
            fail("head_dims", f"only {', '.join(HEAD_DIM_OPS)} have a head dim, not {op}")
        if isinstance(head_dims, int):
            head_dims = [head_dims]
        if not isinstance(head_dims, (list, tuple)) or not head_dims or \
                not all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in head_dims):
            fail("head_dims", f"{head_dims!r} is not a non-empty list of positive ints")
        head_dims = list(head_dims)
    params = decl.get("params") or {}
    if not isinstance(params, dict):
        fail("params", "a dict {name: [values]}")
    sig = inspect.signature(fn)
    takes_any = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    keywords = {n for n, p in sig.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    spec = OPS[op]
    clean = {}
    for pname, values in params.items():
        where_p = f"params[{pname!r}]"
        if not isinstance(pname, str) or not _PARAM.match(pname):
            fail(where_p, "a parameter name is an identifier (letters, digits, '_')")
        if pname in spec["keywords"] or pname in spec["tensors"]:
            fail(where_p, f"{pname!r} is already one of {op}'s inputs or problem values")
        if not isinstance(values, (list, tuple)):
            values = [values]
        if not values:
            fail(where_p, "no values")
        for val in values:
            if not isinstance(val, (int, float, str, bool)):
                fail(where_p, f"{val!r} is not an int, float, string or bool")
        if len(set(map(repr, values))) != len(values):
            fail(where_p, f"{list(values)!r} repeats a value")
        if not takes_any and pname not in keywords:
            fail(where_p, f"{getattr(fn, '__name__', 'fn')}() takes no argument {pname!r}")
        clean[pname] = list(values)
    # Every argument fn needs must be given: a tensor (positional), a problem value or a parameter.
    positional = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    n_tensors = len(spec["tensors"])
    if len(positional) < n_tensors and not any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values()):
        fail("fn", f"{getattr(fn, '__name__', 'fn')}() takes {len(positional)} positional arguments; "
                   f"{op} passes {n_tensors} tensors ({', '.join(spec['tensors'])}) first")
    for p in list(sig.parameters.values())[n_tensors:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is not p.empty:
            continue
        if p.name not in spec["keywords"] and p.name not in clean:
            fail("fn", f"{getattr(fn, '__name__', 'fn')}() needs {p.name!r}, which is neither one of {op}'s values "
                       f"({', '.join(spec['keywords'])}) nor a declared parameter")
    supports = decl.get("supports")
    if supports is not None and not callable(supports):
        fail("supports", f"{supports!r} is not callable")
    description = decl.get("description") or (inspect.getdoc(fn) or "").split("\n")[0]
    if not isinstance(description, str):
        fail("description", "a string")
    return Variant(name, op, fn, list(dtypes), head_dims, clean, supports, description)


def variant(name, op, *, dtypes=None, head_dims=None, params=None, supports=None, description=None):
    """Decorator: declares the function as variant `name` of `op` (see the module's docstring)."""
    def wrap(fn):
        _registry.append(check_declaration(
            {"name": name, "op": op, "fn": fn, "dtypes": dtypes, "head_dims": head_dims, "params": params,
             "supports": supports, "description": description}, where=getattr(fn, "__name__", "fn")))
        return fn

    return wrap


def collect(module, before=0):
    """The variants a loaded module declared: the decorator's (those registered since `before`) and
    its VARIANTS list; duplicate names are an error."""
    found = list(_registry[before:])
    declared = getattr(module, "VARIANTS", None)
    if declared is not None:
        if not isinstance(declared, (list, tuple)):
            raise DeclarationError(f"VARIANTS: a list of dicts, got {type(declared).__name__}")
        for i, decl in enumerate(declared):
            found.append(decl if isinstance(decl, Variant) else check_declaration(decl, where=f"VARIANTS[{i}]"))
    seen = set()
    for v in found:
        if v.name in seen:
            raise DeclarationError(f"variant {v.name!r}: name: declared twice")
        seen.add(v.name)
    if not found:
        raise DeclarationError("no variants: declare them with @variant(...) or a VARIANTS list")
    return found
