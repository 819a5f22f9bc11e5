"""``python -m deploy.local.moto_server -H HOST -p PORT``: moto server with the embedded stack's patches."""

from deploy.local import moto_patches

if __name__ == "__main__":
    moto_patches.apply()
    from moto.server import main

    main()
