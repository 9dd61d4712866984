"""DVC stage `report`: a placeholder until its issue lands (README: "Status of the stages")."""

from __future__ import annotations


def main(params_path: str = "params.yaml") -> None:
    from pipeline.params import load_params
    from pipeline.placeholder import write_marker

    params = load_params(params_path)
    write_marker("report", f"{params.paths.reports_dir}/report.placeholder.json", [f"{params.paths.reports_dir}/drivers.json"])


if __name__ == "__main__":
    main()
