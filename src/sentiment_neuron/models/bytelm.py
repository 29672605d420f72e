"""The language model: token embedding -> RNN or Transformer -> next-token decoder.

    x_t = E[id_t + offset]          (E: (V + offset) x embed_size)
    hs, state = RNN(x, state)       (mLSTM, LSTM, GRU, or the Transformer's blocks)
    logits_t = W_out h_t + b_out    (V-way: the next token)

V = `ModelConfig.vocab_size`: 256 for bytes (id = byte; every model before
sentencepiece, and the default), or a sentencepiece vocabulary's size, the
tokenizer then stored in the model folder (`tokenizers.io`). `ByteLM.tokenizer`
turns text into the ids the model reads, with each id's span of characters.

The state is passed explicitly so truncated BPTT can carry it across batches
and featurization can read it.

`ModelConfig.vocab_offset` is 0 for our models and OpenAI's (symbol id = byte).
NVIDIA's 2019 models use id = byte + 1 with id 0 the padding symbol, a 257-row
embedding and a 257-way decoder; with offset 1 the embedding reads row
byte + 1, and `ByteLM.forward` / `decoder` return the 256 byte logits (the
padding symbol's logit dropped), so every caller still sees byte values.
`ByteLM.symbol_logits` gives all 256 + offset logits, as the original computes them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..text import preprocess
from ..tokenizers import ByteTokenizer, Encoding
from .gru import GRU
from .lstm import LSTM
from .mlstm import MLSTM
from .transformer import TransformerStack

VOCAB_SIZE = 256  # bytes
DEFAULT_HIDDEN_SIZE = 512  # what 2 CPU cores train in minutes; the paper: 4096
DEFAULT_FEATURES = "hidden-mean"  # what transfers best at small scale (README, "Results": the feature comparison)
RNN_TYPES = ("mlstm", "lstm", "gru", "transformer")
FEATURE_STATES = ("hidden", "cell")
FEATURE_POOLINGS = ("last", "mean", "max")
PREPROCESSING_OPTIONS = ("front_pad", "end_pad", "tweets")  # text.preprocess's keyword arguments


@dataclass
class ModelConfig:
    """Architecture plus what a user of the weights must know.

    Attributes:
        rnn: "mlstm", "lstm" or "gru".
        hidden_size: H, units in the RNN.
        embed_size: E, byte-embedding size (64 in the paper).
        num_layers: stacked layers (lstm and gru; the mLSTM has one).
        feature_state, feature_pooling: the default features for transfer;
            small models transfer far better from pooled hidden states.
        preprocessing: the `text.preprocess` arguments the model was trained with (front_pad,
            end_pad; tweets: True for a model trained on normalized tweets).
        provenance: how it was trained (data, bytes seen, BPC, versions), or for an
            imported model where it came from (source file, its SHA-256, the conversion).
        vocab_offset: symbol id = byte + vocab_offset; 0 (ours, OpenAI's), or 1 for
            NVIDIA's 2019 models (id 0 = padding; 257-row embedding and decoder).
        num_heads: attention heads (rnn "transformer": a decoder-only pre-LN Transformer over bytes,
            `models.transformer.TransformerStack`, num_layers blocks of width hidden_size = embed_size,
            the output layer tied to the byte embedding).
        attention_memory: cached tokens a Transformer attends to beyond the current chunk (and carries
            across TBPTT windows).
        vocab_size: V, symbols the model reads and predicts: 256 (bytes), or the size of the
            sentencepiece vocabulary stored beside the weights (tokenizer.json, tokenizer.model).
        feature_layer: a Transformer's block (0-based) whose output features, heatmaps and interventions read
            (the residual stream); None: the top output after the final LayerNorm (every RNN reads its top).
    """

    rnn: str = "mlstm"
    hidden_size: int = DEFAULT_HIDDEN_SIZE
    embed_size: int = 64
    num_layers: int = 1
    feature_state: str = DEFAULT_FEATURES.split("-")[0]
    feature_pooling: str = DEFAULT_FEATURES.split("-")[1]
    preprocessing: dict = field(default_factory=lambda: {"front_pad": "\n ", "end_pad": " "})
    provenance: dict = field(default_factory=dict)
    vocab_offset: int = 0
    num_heads: int = 4
    attention_memory: int = 512
    vocab_size: int = VOCAB_SIZE
    feature_layer: int | None = None

    def __post_init__(self) -> None:
        if self.rnn not in RNN_TYPES:
            raise ValueError(f"rnn must be one of {RNN_TYPES}, got {self.rnn!r}")
        if self.rnn == "mlstm" and self.num_layers != 1:
            raise ValueError("the mLSTM has one layer; use rnn='lstm' or 'gru' to stack layers")
        if self.rnn == "transformer":
            if self.embed_size != self.hidden_size:
                raise ValueError(f"a Transformer's byte embedding is tied to its output layer: embed_size "
                                 f"({self.embed_size}) must equal hidden_size ({self.hidden_size})")
            if self.num_heads < 1 or self.hidden_size % self.num_heads or (self.hidden_size // self.num_heads) % 2:
                raise ValueError(f"hidden_size {self.hidden_size} must split into {self.num_heads} heads of an "
                                 "even size")
            if self.attention_memory < 1:
                raise ValueError(f"attention_memory must be positive, got {self.attention_memory}")
        if self.feature_layer is not None and (self.rnn != "transformer" or isinstance(self.feature_layer, bool)
                                               or not 0 <= self.feature_layer < self.num_layers):
            raise ValueError(f"feature_layer must be a Transformer block, 0..{self.num_layers - 1}, or None (the "
                             f"top), got {self.feature_layer!r} for a {self.rnn}")
        if self.feature_state not in FEATURE_STATES:
            raise ValueError(f"feature_state must be one of {FEATURE_STATES}")
        if self.feature_pooling not in FEATURE_POOLINGS:
            raise ValueError(f"feature_pooling must be one of {FEATURE_POOLINGS}")
        if self.hidden_size < 1 or self.embed_size < 1:
            raise ValueError("hidden_size and embed_size must be positive")
        unknown = set(self.preprocessing) - set(PREPROCESSING_OPTIONS)
        if unknown:
            raise ValueError(f"unknown preprocessing option(s) {sorted(unknown)}; known: {list(PREPROCESSING_OPTIONS)}")
        if isinstance(self.vocab_size, bool) or not isinstance(self.vocab_size, int) or self.vocab_size < VOCAB_SIZE:
            raise ValueError(f"vocab_size must be an integer >= {VOCAB_SIZE}, got {self.vocab_size!r}")
        if self.vocab_offset and self.vocab_size != VOCAB_SIZE:
            raise ValueError("vocab_offset (NVIDIA's padding symbol) applies to byte models only")
        if isinstance(self.vocab_offset, bool) or not isinstance(self.vocab_offset, int) or self.vocab_offset < 0:
            raise ValueError(f"vocab_offset must be an integer >= 0, got {self.vocab_offset!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """The architecture in a few words, e.g. "mLSTM, 512 units, bytes" or "Transformer, 2 blocks of 256,
        4 heads, 8,000 sentencepiece ids"."""
        reads = "bytes" if self.vocab_size == VOCAB_SIZE else f"{self.vocab_size:,} sentencepiece ids"
        if self.rnn == "transformer":
            return f"Transformer, {self.num_layers} blocks of {self.hidden_size}, {self.num_heads} heads, {reads}"
        name = {"mlstm": "mLSTM", "lstm": "LSTM", "gru": "GRU"}[self.rnn]
        layers = f"{self.num_layers} layers of " if self.num_layers != 1 else ""
        return f"{name}, {layers}{self.hidden_size} units, {reads}"

    @property
    def pads(self) -> tuple[str, str]:
        """(front_pad, end_pad) of `preprocessing`: what is around the text in the bytes the model reads."""
        return self.preprocessing.get("front_pad", "\n "), self.preprocessing.get("end_pad", " ")


class OffsetEmbedding(nn.Embedding):
    """An embedding of 256 + offset rows looked up at byte + offset: input byte values
    (any shape) int64 in [0, 256), output (..., embed_size). Its `weight` is the original's table."""

    def __init__(self, embed_size: int, offset: int) -> None:
        super().__init__(VOCAB_SIZE + offset, embed_size)
        self.offset = offset

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return super().forward(tokens + self.offset)


class OffsetDecoder(nn.Linear):
    """A decoder of 256 + offset outputs that returns the 256 byte logits (rows offset..):
    input (..., H), output (..., 256). `ByteLM.symbol_logits` gives all rows."""

    def __init__(self, hidden_size: int, offset: int) -> None:
        super().__init__(hidden_size, VOCAB_SIZE + offset)
        self.offset = offset

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.linear(h, self.weight[self.offset :], self.bias[self.offset :])


class ByteLM(nn.Module):
    """Next-token language model. Input ids (time, batch) int64 in [0, vocab_size): bytes, or sentencepiece
    ids with `tokenizer` a `tokenizers.SentencePieceTokenizer` (set by `models.io.load_model` and pretraining).

    Args:
        config: the architecture.
        tokenizer: text to ids; None for bytes with the config's preprocessing.

    Raises:
        ValueError: a tokenizer whose vocabulary size is not the config's.
    """

    def __init__(self, config: ModelConfig, tokenizer=None) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        offset = config.vocab_offset
        self.embed = nn.Embedding(config.vocab_size, config.embed_size) if not offset else \
            OffsetEmbedding(config.embed_size, offset)
        if config.rnn == "mlstm":
            self.rnn: nn.Module = MLSTM(config.embed_size, config.hidden_size)
        elif config.rnn == "transformer":
            self.rnn = TransformerStack(config.embed_size, config.hidden_size, config.num_layers, config.num_heads,
                                        config.attention_memory)
        else:
            stacked = {"lstm": LSTM, "gru": GRU}[config.rnn]
            self.rnn = stacked(config.embed_size, config.hidden_size, config.num_layers)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size) if not offset else \
            OffsetDecoder(config.hidden_size, offset)
        if config.rnn == "transformer":  # GPT-2's init of the embedding, then tied to the output layer
            nn.init.normal_(self.embed.weight, std=0.02)
            self.tie_weights()

    def tie_weights(self) -> None:
        """A Transformer's output layer reads its byte embedding (Press & Wolf 2017): one parameter for both.
        Called at construction and again after weights are assigned (`models.io.load_model`)."""
        if self.config.rnn == "transformer":
            self.decoder.weight = self.embed.weight

    @property
    def tokenizer(self):
        """Text to the ids this model reads (`tokenizers.Tokenizer`): the stored sentencepiece vocabulary,
        or bytes with the config's preprocessing."""
        if self._tokenizer is None:  # made from the config each time: it follows the preprocessing
            front, end = self.config.pads
            return ByteTokenizer(front, end, bool(self.config.preprocessing.get("tweets", False)))
        return self._tokenizer

    @tokenizer.setter
    def tokenizer(self, tokenizer) -> None:
        if tokenizer is not None and tokenizer.vocab_size != self.config.vocab_size:
            raise ValueError(f"the tokenizer has {tokenizer.vocab_size} symbols, the model {self.config.vocab_size}")
        self._tokenizer = None if tokenizer is not None and tokenizer.kind == "bytes" else tokenizer

    @property
    def reads_bytes(self) -> bool:
        """True for a byte model (ids are UTF-8 bytes of `text.preprocess`'s output)."""
        return self.config.vocab_size == VOCAB_SIZE and self._tokenizer is None

    def token_ids(self, text: str, max_tokens: int | None = None):
        """The ids the model reads for `text`: `text.preprocess`'s bytes for a byte model (a bytes object,
        whose items are the ids), else an int64 array (begin-of-text id first); at most `max_tokens`.

        Raises:
            UnicodeEncodeError: the text holds a lone surrogate.
        """
        if self.reads_bytes:
            return preprocess(text, **self.config.preprocessing)[:max_tokens]
        return self.tokenizer.ids(text)[:max_tokens]

    def prime_ids(self, text: str):
        """The ids of `text` as the start of a document (no end pad): what generation reads before it
        samples (bytes for a byte model, else an int64 array; the begin-of-text id alone for "")."""
        if self.reads_bytes:
            return preprocess(text, **{**self.config.preprocessing, "end_pad": ""})
        return self.tokenizer.ids(text)

    def encode_text(self, text: str) -> Encoding:
        """`tokenizers.Encoding` of `text`: ids with each one's span of characters of `text`."""
        return self.tokenizer.encode(text)

    def decode_ids(self, ids, after=()) -> str:
        """Ids (any ints in [0, vocab_size)) back to text; invalid UTF-8 becomes U+FFFD. `after`: the ids
        read before these (e.g. `prime_ids` of a generation's prime): the text they add after those
        (`tokenizers.Tokenizer.decode`; a subword continuation keeps its first word-start space)."""
        return self.tokenizer.decode(ids, after)

    @property
    def output_in_state(self) -> bool:
        """True where the carried state holds the hidden state the next step reads (the RNNs): an intervention
        on it (`step(edit=...)`) reaches every later step through the recurrence. A Transformer's state is its
        key/value cache: an edit of its top output reaches the next token's logits only (of a `feature_layer`
        below the top: the blocks above, and through their cache the later steps)."""
        return self.config.rnn != "transformer"

    def _edit_state(self, state, edit):
        """An RNN's state with the top h edited (a new h tensor; c untouched), and that h (batch, H)."""
        if edit is not None:
            h = state[0].clone()
            top = h[-1] if h.dim() == 3 else h
            top.copy_(edit(top.clone()))
            state = (h, *state[1:])
        return self.output_state(None, state), state

    def output_state(self, hs: torch.Tensor, state) -> torch.Tensor:
        """The top layer's state after the last step, (batch, H): what the next-byte logits read. For the
        RNNs it is read from `state` (so an intervention on the state is seen), for a Transformer `hs[-1]`."""
        if not self.output_in_state:
            return hs[-1]
        h = state[0]
        return h[-1] if h.dim() == 3 else h

    @property
    def device(self) -> torch.device:
        """Where the parameters are: every function that runs the model runs it there (entry points
        choose it once, with `precision.resolve_device`, and load or move the model there)."""
        return self.embed.weight.device

    @property
    def hidden_size(self) -> int:
        return self.config.hidden_size

    @property
    def default_features(self) -> str:
        """The feature spec transfer uses by default, e.g. "hidden-mean" (from the config)."""
        return f"{self.config.feature_state}-{self.config.feature_pooling}"

    def check_unit(self, unit) -> int:
        """`unit` as an int in 0..H-1 (the top layer's units).

        Raises:
            ValueError: not an integer, or out of range (the message names H).
        """
        hidden = int(self.config.hidden_size)
        if isinstance(unit, bool) or not isinstance(unit, (int, np.integer)) or not 0 <= int(unit) < hidden:
            raise ValueError(f"unit {unit!r} out of range: the model has {hidden} units (0..{hidden - 1})")
        return int(unit)

    def initial_state(self, batch_size: int, device: torch.device | str = "cpu"):
        """Zero state for `batch_size` sequences (a tuple of float32 tensors)."""
        return self.rnn.initial_state(batch_size, device)

    def narrow_state(self, state, batch_size: int):
        """The state of the first `batch_size` sequences."""
        dim = self.rnn.state_batch_dim
        return tuple(s.narrow(dim, 0, batch_size).contiguous() for s in state)

    def encode(self, tokens: torch.Tensor, state=None, return_cells: bool = False):
        """Run the model over ids: the states features read.

        Args:
            tokens: (time, batch) int64 ids.
            state: the carried state, or None for zeros.
            return_cells: also return the cell state after every id.

        Returns:
            hs (time, batch, H) after every id: the top layer's output (a Transformer with a
            `feature_layer`: that block's), the final state, and cs (time, batch, H) or None.
        """
        if self.config.feature_layer is None:
            return self.rnn(self.embed(tokens), state, return_cells)
        hs, state, _ = self.rnn(self.embed(tokens), state, layer=self.config.feature_layer)
        return hs, state, (hs if return_cells else None)

    def step(self, tokens: torch.Tensor, state=None, edit=None):
        """Read `tokens` and give the next token's logits, at the intervention point (generation).

        Args:
            tokens: (time, batch) int64 ids; state: the carried state or None.
            edit: None, or a function of the read state (batch, H) returning it edited (clamp a unit, add a
                direction), applied after the last id: for the RNNs to the top h in the state (the recurrence
                reads it), for a Transformer to the read layer's output at the last position before the
                blocks above and the logits read it.

        Returns:
            (read (batch, H): the state features read after the last id, edited; logits (batch, V) of the
            next id; the new state).
        """
        if tokens.shape[0] == 0:  # nothing to read (no pad and no prime): from the given or zero state
            state = self.initial_state(tokens.shape[1], tokens.device) if state is None else state
            if self.output_in_state:
                h, state = self._edit_state(state, edit)
                return h, self.decoder(h), state
            h = torch.zeros(tokens.shape[1], self.hidden_size, device=tokens.device)
            h = h if edit is None else edit(h)
            return h, self.decoder(h), state
        if self.output_in_state:
            _, state, _ = self.rnn(self.embed(tokens), state)
            h, state = self._edit_state(state, edit)
            return h, self.decoder(h), state
        read, state, top = self.rnn(self.embed(tokens), state, True, layer=self.config.feature_layer, edit=edit)
        return read[-1], self.decoder(top[-1]), state

    def forward(self, tokens: torch.Tensor, state=None):
        """Returns logits (time, batch, V) for the next id, and the final state."""
        hs, state, _ = self.rnn(self.embed(tokens), state)
        return self.decoder(hs), state

    def symbol_logits(self, hs: torch.Tensor) -> torch.Tensor:
        """All the decoder's logits, (..., 256 + vocab_offset), from hidden states (..., H):
        for an NVIDIA 2019 model, column 0 is the padding symbol and column b + 1 byte b,
        so their softmax is the original's next-symbol distribution."""
        return F.linear(hs, self.decoder.weight, self.decoder.bias)


def detach_state(state):
    """Cut the graph at a TBPTT boundary: the same tensors, detached."""
    return tuple(s.detach() for s in state)
