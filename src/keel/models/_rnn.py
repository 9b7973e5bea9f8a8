"""The recurrent network: a GRU or LSTM over a sequence, pooled into a dense head.

Every input kind is read as a sequence: token ids through an embedding (padding skipped by
packing), an image row by row (H steps of C·W values), a table feature by feature (F steps of
one value).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from keel.data.types import InputSpec
from keel.models._blocks import activation, dense_norm, vocab_size
from keel.models.config import RNNConfig

__all__ = ["RNN", "build_rnn", "token_lengths"]


def token_lengths(ids: torch.Tensor) -> torch.Tensor:
    """Per row, one past the last non-padding id (at least 1, so an empty text is one step)."""
    positions = torch.arange(1, ids.shape[1] + 1, device=ids.device)
    return (positions * (ids != 0)).amax(dim=1).clamp(min=1)


class RNN(nn.Module):
    """Embedding or reshape → GRU/LSTM → last/mean/max pooling → norm → activation → dropout
    → Linear(n_outputs).
    """

    def __init__(self, cfg: RNNConfig, spec: InputSpec, n_outputs: int) -> None:
        super().__init__()
        self.kind = spec.kind
        self.pooling = cfg.pooling
        self.embedding: nn.Embedding | None = None
        if spec.kind == "tokens":
            self.embedding = nn.Embedding(vocab_size(spec), cfg.embedding_dim, padding_idx=0)
            step_size = cfg.embedding_dim
        elif spec.kind == "image":
            channels, _, width = spec.shape
            step_size = channels * width
        else:
            step_size = 1
        cell = nn.GRU if cfg.cell == "gru" else nn.LSTM
        self.rnn = cell(
            step_size,
            cfg.width,
            num_layers=cfg.depth,
            batch_first=True,
            dropout=cfg.dropout if cfg.depth > 1 else 0.0,  # torch drops between layers only
            bidirectional=cfg.bidirectional,
        )
        self.bidirectional = cfg.bidirectional
        features = cfg.width * (2 if cfg.bidirectional else 1)
        self.head = nn.Sequential(
            dense_norm(cfg.norm, features),
            activation(cfg.activation),
            nn.Dropout(cfg.dropout),
            nn.Linear(features, n_outputs),
        )

    def _steps(self, x: torch.Tensor) -> torch.Tensor:
        """The input as a (B, T, step_size) float sequence."""
        if self.kind == "image":
            b, c, h, w = x.shape
            return x.permute(0, 2, 1, 3).reshape(b, h, c * w)
        return x.unsqueeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask: torch.Tensor | None = None
        if self.embedding is not None:
            lengths = token_lengths(x)
            packed = pack_padded_sequence(
                self.embedding(x), lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            packed_out, hidden = self.rnn(packed)
            steps, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=x.shape[1])
            mask = torch.arange(x.shape[1], device=x.device) < lengths.unsqueeze(1)
        else:
            steps, hidden = self.rnn(self._steps(x))
        return self.head(self._pool(steps, hidden, mask))

    def _pool(
        self,
        steps: torch.Tensor,
        hidden: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """(B, T, features) outputs → (B, features), over the real steps only."""
        if self.pooling == "last":
            h_n = hidden[0] if isinstance(hidden, tuple) else hidden  # LSTM: (h_n, c_n)
            if self.bidirectional:  # forward state at the last step, backward at the first
                return torch.cat([h_n[-2], h_n[-1]], dim=1)
            return h_n[-1]
        if mask is None:
            return steps.mean(dim=1) if self.pooling == "mean" else steps.amax(dim=1)
        keep = mask.unsqueeze(-1)
        if self.pooling == "mean":
            return (steps * keep).sum(dim=1) / keep.sum(dim=1)
        return steps.masked_fill(~keep, float("-inf")).amax(dim=1)


def build_rnn(cfg: RNNConfig, spec: InputSpec, n_outputs: int) -> RNN:
    """An RNN over token ids, image rows, or tabular features as a sequence."""
    return RNN(cfg, spec, n_outputs)
