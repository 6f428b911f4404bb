#!/usr/bin/env python3
"""Plots nicproxy-bench --sweep output: worker Mpps against services and against flows
(over every burst, and over the bursts the worker was not switched out in), with the
ratio to the io-forward baseline of the same runs on a second axis.

Usage: bench_plot.py BENCH.csv OUT.png
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    rows = list(csv.DictReader(open(sys.argv[1])))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, sweep, key, title in ((axes[0], "services", "services", "100,000 flows"),
                                  (axes[1], "flows", "flows", "10,000 services")):
        sel = [r for r in rows if r["sweep"] == sweep]
        x = [int(r[key]) for r in sel]
        ax.plot(x, [float(r["mpps"]) for r in sel], "o-", label="nicproxy worker, every burst")
        if sel and "clean_mpps" in sel[0]:
            ax.plot(x, [float(r["clean_mpps"]) for r in sel], "^-", color="tab:green",
                    label="nicproxy worker, bursts not switched out")
        ax.set_xscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel("Mpps, one worker, 64-byte packets")
        ax.set_ylim(bottom=0)
        ax.set_title(f"throughput vs {key} ({title})")
        ax.grid(True, which="both", alpha=0.3)
        ax2 = ax.twinx()
        ax2.plot(x, [float(r["ratio"]) for r in sel], "s--", color="tab:gray", label="ratio to io-forward")
        ax2.set_ylabel("worker / io-forward (same rings)")
        ax2.set_ylim(bottom=0)
        lines = ax.get_lines() + ax2.get_lines()
        ax.legend(lines, [line.get_label() for line in lines], loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
