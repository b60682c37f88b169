"""The KV cache of replies written together: one row per reply, columns shared, in buffers with room to grow.

Every decoding step writes one new column for every row (the rows' next tokens), so a row that joined later
than the others is right-aligned: its columns before its prompt are padding, masked out in attention. The
rows' positions (RoPE) are their own (`position_ids`), not the column, so padding changes nothing in what
a row computes. A model reads and writes the cache through transformers' `Cache` API (`update` per layer),
which is the same in transformers 5.17 and 5.25; the attention mask is handed over as a 4-D additive mask,
which both versions use as it is.

transformers' own `DynamicLayer` concatenates the whole cache with the new column at every step (a copy of
every row's keys and values per step); these layers write the column into spare room instead.
"""

import torch
from transformers.cache_utils import Cache, DynamicLayer

ROOM = 256  # spare columns allocated at a time


class RowsLayer(DynamicLayer):
    """One layer's keys and values for all rows: buffers [rows, heads, capacity, head_dim], `used` columns."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, used: int):
        super().__init__()
        self.buffer_keys, self.buffer_values, self.used = keys, values, used
        self.dtype, self.device = keys.dtype, keys.device
        self.is_initialized = True
        self._views()

    def _views(self) -> None:
        self.keys = self.buffer_keys[:, :, : self.used]
        self.values = self.buffer_values[:, :, : self.used]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        new = key_states.shape[-2]
        if self.used + new > self.buffer_keys.shape[2]:
            self.buffer_keys = _with_room(self.buffer_keys, self.used, new + ROOM)
            self.buffer_values = _with_room(self.buffer_values, self.used, new + ROOM)
        self.buffer_keys[:, :, self.used: self.used + new] = key_states
        self.buffer_values[:, :, self.used: self.used + new] = value_states
        self.used += new
        self._views()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.used


def _with_room(buffer: torch.Tensor, used: int, room: int) -> torch.Tensor:
    grown = buffer.new_zeros(buffer.shape[0], buffer.shape[1], used + room, buffer.shape[3])
    grown[:, :, :used] = buffer[:, :, :used]
    return grown


class BatchCache:
    """The rows' KV and which of their columns are real (`valid`, bool [rows, columns])."""

    def __init__(self, layers: list[RowsLayer], valid: torch.Tensor):
        self.layers, self.valid = layers, valid
        self.cache = Cache(layers=layers)

    @property
    def rows(self) -> int:
        return self.valid.shape[0]

    @property
    def columns(self) -> int:
        return self.valid.shape[1]

    @classmethod
    def empty(cls, model_config, rows: int, dtype: torch.dtype, device) -> "BatchCache":
        config = model_config.get_text_config(decoder=True)
        heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        shape = (rows, heads, ROOM, head_dim)
        layers = [RowsLayer(torch.zeros(shape, dtype=dtype, device=device),
                            torch.zeros(shape, dtype=dtype, device=device), 0)
                  for _ in range(config.num_hidden_layers)]
        return cls(layers, torch.zeros(rows, 0, dtype=torch.bool, device=device))

    def extended(self, new: int) -> torch.Tensor:
        """`valid` with `new` real columns appended to every row: what the next forward pass attends to."""
        return torch.cat([self.valid, self.valid.new_ones(self.rows, new)], dim=1)

    def after_forward(self, new: int) -> None:
        self.valid = self.extended(new)

    def settle(self) -> None:
        """Back to the columns of the last forward pass that completed: one that failed part-way (out of memory)
        may have written its column into some layers only."""
        for layer in self.layers:
            if layer.used != self.columns:
                layer.used = self.columns
                layer._views()

    def prefix(self, columns: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Copies of the first `columns` columns of a one-row cache (a prompt prefix to reuse)."""
        return [(layer.keys[:, :, :columns].clone(), layer.values[:, :, :columns].clone()) for layer in self.layers]

    @classmethod
    def from_prefix(cls, prefix: list[tuple[torch.Tensor, torch.Tensor]], room: int) -> "BatchCache":
        layers = []
        for keys, values in prefix:
            used = keys.shape[2]
            layers.append(RowsLayer(_with_room(keys, used, room), _with_room(values, used, room), used))
        columns = prefix[0][0].shape[2]
        return cls(layers, torch.ones(1, columns, dtype=torch.bool, device=prefix[0][0].device))

    def joined(self, other: "BatchCache") -> "BatchCache":
        """Both caches' rows in one, right-aligned on the last column (the shorter side is padded on the left)."""
        columns = max(self.columns, other.columns)
        rows = self.rows + other.rows
        layers = []
        for mine, theirs in zip(self.layers, other.layers):
            heads, head_dim = mine.buffer_keys.shape[1], mine.buffer_keys.shape[3]
            keys = mine.buffer_keys.new_zeros(rows, heads, columns + ROOM, head_dim)
            values = torch.zeros_like(keys)
            for target, a, b in ((keys, mine.keys, theirs.keys), (values, mine.values, theirs.values)):
                target[: self.rows, :, columns - a.shape[2]: columns] = a
                target[self.rows:, :, columns - b.shape[2]: columns] = b
            layers.append(RowsLayer(keys, values, columns))
        valid = self.valid.new_zeros(rows, columns)
        valid[: self.rows, columns - self.columns:] = self.valid
        valid[self.rows:, columns - other.columns:] = other.valid
        return BatchCache(layers, valid)

    def kept(self, rows: list[int]) -> "BatchCache":
        """Only `rows`, without the leading columns none of them uses any more."""
        index = torch.tensor(rows, device=self.valid.device)
        valid = self.valid.index_select(0, index)
        used = valid.any(dim=0)
        first = int(used.nonzero()[0]) if bool(used.any()) else valid.shape[1]
        columns = valid.shape[1] - first
        layers = []
        for layer in self.layers:
            keys = layer.buffer_keys.new_zeros(len(rows), layer.buffer_keys.shape[1], columns + ROOM,
                                               layer.buffer_keys.shape[3])
            values = torch.zeros_like(keys)
            keys[:, :, :columns] = layer.keys.index_select(0, index)[:, :, first:]
            values[:, :, :columns] = layer.values.index_select(0, index)[:, :, first:]
            layers.append(RowsLayer(keys, values, columns))
        return BatchCache(layers, valid[:, first:])


def decode_mask(cache: BatchCache, dtype: torch.dtype) -> torch.Tensor:
    """Additive mask [rows, 1, 1, columns + 1] for one new token per row: its real columns and itself."""
    allowed = cache.extended(1)
    return _additive(allowed, dtype)[:, None, None, :]


def prompt_mask(cache: BatchCache, new: int, dtype: torch.dtype) -> torch.Tensor:
    """Additive causal mask [1, 1, new, columns + new] for `new` prompt tokens of a one-row cache."""
    past = cache.columns
    allowed = torch.ones(new, past + new, dtype=torch.bool, device=cache.valid.device).tril(diagonal=past)
    return _additive(allowed, dtype)[None, None, :, :]


def _additive(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    mask = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return mask.masked_fill_(~allowed, torch.finfo(dtype).min)
