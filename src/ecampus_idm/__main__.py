"""``python -m ecampus_idm`` runs the command-line interface."""

from ecampus_idm.cli import main

if __name__ == "__main__":
    main()
