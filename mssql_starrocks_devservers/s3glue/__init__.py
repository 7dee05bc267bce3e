"""The S3 + Glue stand-in: moto's server app, with what moto lacks for Iceberg and a fault front.

moto (`moto.server`'s WSGI app, served the way `python -m moto.server` serves it) answers the
S3 and Glue APIs. Added here:

- Glue `UpdateTable` honours `VersionId` as AWS does: an update made against an older version
  of the table fails with `ConcurrentModificationException` (moto applies it and silently
  loses the other writer's commit). Iceberg's GlueCatalog relies on this check for its
  optimistic commits.
- Test-only fault injection (AWS has nothing like it), see `faults.py` and docs/devservers.md.
"""
