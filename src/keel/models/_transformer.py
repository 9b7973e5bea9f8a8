"""The transformer encoder over tokens (text), image rows, or one token per tabular feature.

The encoder is a stack of pre-norm blocks (norm → self-attention → residual, norm →
feed-forward → residual), the layout of ``nn.TransformerEncoderLayer(norm_first=True)``. It is
written out here rather than taken from torch because torch's layer fixes LayerNorm and, in
eval mode, runs a fused kernel that assumes it; keel's ``norm`` (none/batch/layer) and every
``activation`` must hold in training and at inference alike.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from keel.data.types import InputSpec
from keel.errors import DataError, SpecError
from keel.models._blocks import SequenceNorm, activation, dense_norm, vocab_size
from keel.models.config import TransformerConfig

__all__ = ["EncoderBlock", "FeatureTokenizer", "Transformer", "build_transformer"]


class FeatureTokenizer(nn.Module):
    """One token per tabular feature (FT-Transformer): token_i = x_i · W_i + b_i."""

    def __init__(self, n_features: int, dim: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(dim)
        self.weight = nn.Parameter(torch.empty(n_features, dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_features, dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(-1) * self.weight + self.bias


class EncoderBlock(nn.Module):
    """x + Dropout(SelfAttention(norm(x))), then x + Dropout(FeedForward(norm(x)))."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        dim, hidden = cfg.width, cfg.width * cfg.ff_mult
        self.norm1 = SequenceNorm(cfg.norm, dim)
        self.attention = nn.MultiheadAttention(
            dim, cfg.heads, dropout=cfg.dropout, batch_first=True
        )
        self.dropout1 = nn.Dropout(cfg.dropout)
        self.norm2 = SequenceNorm(cfg.norm, dim)
        self.feed_forward = nn.Sequential(
            nn.Linear(dim, hidden),
            activation(cfg.activation),
            nn.Dropout(cfg.dropout),
            nn.Linear(hidden, dim),
        )
        self.dropout2 = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x, padding)
        attended, _ = self.attention(h, h, h, key_padding_mask=padding, need_weights=False)
        x = x + self.dropout1(attended)
        return x + self.dropout2(self.feed_forward(self.norm2(x, padding)))


class Transformer(nn.Module):
    """Tokenize → (+ CLS) → ``depth`` encoder blocks → CLS or masked mean → norm → Linear."""

    def __init__(self, cfg: TransformerConfig, spec: InputSpec, n_outputs: int) -> None:
        super().__init__()
        self.kind = spec.kind
        self.pooling = cfg.pooling
        dim = cfg.width
        self.embed: nn.Module
        self.position: nn.Parameter | None = None
        if spec.kind == "tokens":
            self.embed = nn.Embedding(vocab_size(spec), dim, padding_idx=0)
            self.position = nn.Parameter(torch.randn(1, spec.shape[0], dim) * 0.02)
        elif spec.kind == "image":
            channels, height, width = spec.shape
            self.embed = nn.Linear(channels * width, dim)
            self.position = nn.Parameter(torch.randn(1, height, dim) * 0.02)
        else:
            self.embed = FeatureTokenizer(spec.shape[0], dim)  # each feature's own W_i, b_i
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02) if cfg.pooling == "cls" else None
        self.blocks = nn.ModuleList(EncoderBlock(cfg) for _ in range(cfg.depth))
        self.norm = dense_norm(cfg.norm, dim)
        self.head = nn.Linear(dim, n_outputs)

    def _tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The input as (B, L, dim) tokens and their (B, L) padding mask (True: ignore)."""
        if self.kind == "tokens":
            padding = x == 0
        elif self.kind == "image":
            b, c, h, w = x.shape
            x = x.permute(0, 2, 1, 3).reshape(b, h, c * w)
            padding = torch.zeros(b, h, dtype=torch.bool, device=x.device)
        else:
            padding = torch.zeros(x.shape, dtype=torch.bool, device=x.device)
        tokens = self.embed(x)
        if self.position is not None:
            if tokens.shape[1] > self.position.shape[1]:
                raise DataError(
                    f"the transformer was built for sequences of {self.position.shape[1]} "
                    f"steps but got {tokens.shape[1]}; preprocess with the same [data] settings"
                )
            tokens = tokens + self.position[:, : tokens.shape[1]]
        return tokens, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens, padding = self._tokens(x)
        if self.cls is not None:
            tokens = torch.cat([self.cls.expand(tokens.shape[0], -1, -1), tokens], dim=1)
            padding = torch.cat([padding.new_zeros(padding.shape[0], 1), padding], dim=1)
        else:  # a row of padding only (an empty text) attends to its first position
            padding = padding.clone()
            padding[:, 0] &= ~padding.all(dim=1)
        for block in self.blocks:
            tokens = block(tokens, padding)
        if self.cls is not None:
            pooled = tokens[:, 0]
        else:
            keep = (~padding).unsqueeze(-1)
            pooled = (tokens * keep).sum(dim=1) / keep.sum(dim=1)
        return self.head(self.norm(pooled))


def build_transformer(cfg: TransformerConfig, spec: InputSpec, n_outputs: int) -> Transformer:
    """A transformer over tokens, image rows or tabular features."""
    if cfg.width % cfg.heads:
        divisors = [d for d in range(1, min(cfg.width, 32) + 1) if cfg.width % d == 0]
        raise SpecError(
            f"[model] width = {cfg.width} is not divisible by [model] heads = {cfg.heads}; "
            f"set heads to one of {divisors} or width to a multiple of {cfg.heads}"
        )
    return Transformer(cfg, spec, n_outputs)
