"""DVC stage `explain`: a placeholder until its issue lands (README: "Status of the stages")."""

from __future__ import annotations


def main(params_path: str = "params.yaml") -> None:
    from pipeline.params import load_params
    from pipeline.placeholder import write_marker

    params = load_params(params_path)
    write_marker("explain", f"{params.paths.reports_dir}/explain.placeholder.json", [f"{params.paths.model_dir}/model.txt"])


if __name__ == "__main__":
    main()
