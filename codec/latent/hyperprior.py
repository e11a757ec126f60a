"""The mean-scale hyperprior's latent codec (Ballé et al. 2018, Minnen et al. 2018): model 1.

Per tile: z = round(hyper-analysis(y)), coded with one factorized table per channel
(section 0); the integer scale network picks each element of y's Gaussian table from ẑ
and the mean network predicts its mean; y is coded as round(y - mean) (section 1).
"""
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..entropy import ans
from ..entropy.tables import ScaleSpec, TableSet
from ..format.constants import MAX_ABS, Z_TO_Y
from ..nets.intnet import IntegerScaleNet
from ..nets.layers import frozen, sub_state
from ..nets.synthesis import HyperSynthesis
from .base import LatentCodec, TileSymbols
from ..format.sections import SECTION_NAMES


def z_table_index(n: int, rows: int, cols: int) -> np.ndarray:
    """z has one table per channel."""
    return np.broadcast_to(np.arange(n)[:, None, None], (n, rows, cols))


@dataclass
class HyperpriorCodec(LatentCodec):
    n: int
    m: int
    mean_net: HyperSynthesis
    scale_net: IntegerScaleNet
    y_tables: TableSet
    z_tables: TableSet
    spec: ScaleSpec = ScaleSpec()  # the Gaussian scale of each y table
    hyper_analysis: torch.nn.Module | None = None  # encoder side only

    kind = "hyperprior"
    sections = 2
    section_names = SECTION_NAMES[kind]
    symbols = (("z", 1), ("y", Z_TO_Y), ("indices", Z_TO_Y))

    @classmethod
    def from_weights(cls, tensors: dict, meta: dict) -> "HyperpriorCodec":
        n, m = int(meta["n"]), int(meta["m"])
        mean_net = HyperSynthesis(n, m)
        mean_net.load_state_dict(sub_state(tensors, "h_s_mean"))
        scales = ScaleSpec.from_json(meta.get("scales"))
        return cls(n, m, frozen(mean_net), IntegerScaleNet.from_state_dict(tensors, scales.thresholds()),
                   TableSet.from_tensors(tensors, "y_tables"), TableSet.from_tensors(tensors, "z_tables"), scales)

    def with_encoder(self, tensors: dict, meta: dict) -> "HyperpriorCodec":
        from ..nets.analysis import HyperAnalysis  # the decoder never needs it
        hyper = HyperAnalysis(self.n, self.m)
        hyper.load_state_dict(sub_state(tensors, "h_a"))
        return replace(self, hyper_analysis=frozen(hyper))

    def to(self, device: torch.device, dtype: torch.dtype) -> "HyperpriorCodec":
        self.mean_net.to(device, dtype)
        return self

    def hyper_symbols(self, y: torch.Tensor) -> np.ndarray:
        """The hyper networks see this tile only, so that the tile decodes on its own."""
        return torch.round(self.hyper_analysis(y)).clamp(-MAX_ABS, MAX_ABS)[0].numpy().astype(np.int32)

    def quantize(self, y: torch.Tensor, z: np.ndarray | None = None) -> TileSymbols:
        z = self.hyper_symbols(y) if z is None else z
        means = self.mean_net(torch.from_numpy(z).float()[None])
        residual = torch.round(y - means).clamp_(-MAX_ABS, MAX_ABS)
        return {"z": z, "y": residual[0].numpy().astype(np.int32)}

    def entropy_parameters(self, y: torch.Tensor, z: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        return self.mean_net(torch.from_numpy(z).float()[None])[0].double(), self.scale_net.indices(z)

    def write(self, tile: TileSymbols) -> tuple[bytes, bytes]:
        z = tile["z"]
        if "indices" not in tile:
            tile["indices"] = self.scale_net.indices(z)
        return (ans.encode(z, z_table_index(self.n, *z.shape[1:]), self.z_tables),
                ans.encode(tile["y"], tile["indices"], self.y_tables))

    def read(self, sections: tuple[bytes, ...], rows: int, cols: int) -> TileSymbols:
        z = ans.decode(sections[0], z_table_index(self.n, rows, cols), self.z_tables)
        indices = self.scale_net.indices(z)
        return {"z": z, "y": ans.decode(sections[1], indices, self.y_tables), "indices": indices}

    def latent(self, tile: TileSymbols, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        y_hat = self.mean_net(torch.from_numpy(tile["z"]).to(device, dtype)[None])
        y_hat += torch.from_numpy(tile["y"]).to(device)
        return y_hat
