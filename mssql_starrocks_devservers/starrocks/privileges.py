"""Users and privileges as StarRocks 3.3 documents them (GRANT, REVOKE, CREATE USER, DROP USER,
SHOW GRANTS; "Privilege items"), for the statements a loading client issues.

The user the stand-in starts with (`--user`, root by default) is its administrator and holds every
privilege, as root does. Other users start with none. Privileges are held on the default catalog
(CREATE DATABASE), on a database (CREATE TABLE, ALTER, DROP) or on tables (SELECT, INSERT, UPDATE,
DELETE, ALTER, DROP, EXPORT), a named table or ALL TABLES IN DATABASE db / IN ALL DATABASES (which
also covers tables created later). A statement lacking one fails with StarRocks' error 5203,
"Access denied; you need (at least one of) the INSERT privilege(s) on TABLE t for this operation. ..."

Roles, WITH GRANT OPTION and privileges on external catalogs' objects are not modelled: they fail
loudly ("not supported by the stand-in").
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from mssql_starrocks_devservers.starrocks.engine import SrError

ACCESS_DENIED = 5203
DEFAULT_CATALOG = "default_catalog"
TABLE_PRIVILEGES = ("ALTER", "DROP", "SELECT", "INSERT", "EXPORT", "UPDATE", "DELETE")
DATABASE_PRIVILEGES = ("ALTER", "DROP", "CREATE TABLE", "CREATE VIEW", "CREATE FUNCTION",
                       "CREATE MATERIALIZED VIEW")
CATALOG_PRIVILEGES = ("USAGE", "CREATE DATABASE", "DROP", "ALTER")
ANY = "*"  # "all databases" / "all tables" in a grant's scope


def not_supported(what: str) -> SrError:
    return SrError(f"not supported by the stand-in: {what}", 1235)


def access_denied(privilege: str, object_type: str, name: str | None) -> SrError:
    """StarRocks' ERR_ACCESS_DENIED (5203), with no role activated (the stand-in has no roles)."""
    on = f"{object_type}{' ' + name if name else ''}"
    return SrError(f"Access denied; you need (at least one of) the {privilege} privilege(s) on {on} for this "
                   "operation. Please ask the admin to grant permission(s) or try activating existing roles using "
                   "<set [default] role>. Current role(s): NONE. Inactivated role(s): NONE.", ACCESS_DENIED)


@dataclass(frozen=True)
class Grant:
    """One privilege on one object: kind is CATALOG, DATABASE or TABLE; db/table may be ANY."""

    privilege: str
    kind: str
    db: str = ""
    table: str = ""

    def statement(self, user: str) -> str:
        if self.kind == "CATALOG":
            on = f"CATALOG {DEFAULT_CATALOG}"
        elif self.kind == "DATABASE":
            on = "ALL DATABASES" if self.db == ANY else f"DATABASE {self.db}"
        elif self.db == ANY:
            on = "ALL TABLES IN ALL DATABASES"
        elif self.table == ANY:
            on = f"ALL TABLES IN DATABASE {self.db}"
        else:
            on = f"TABLE {self.db}.{self.table}"
        return f"GRANT {self.privilege} ON {on} TO USER {user}"


def identity(name: str) -> str:
    """'name'@'%': how SHOW GRANTS writes a user (the stand-in has no host restrictions)."""
    return f"'{name}'@'%'"


class Accounts:
    """The users, their passwords and their grants; shared by the query port and Stream Load."""

    def __init__(self, admin: str, admin_password: str):
        self.admin = admin
        self._passwords = {admin: admin_password}
        self._grants: dict[str, set[Grant]] = {}
        self._lock = threading.Lock()

    # --- users ---------------------------------------------------------------------------
    def password(self, user: str) -> str | None:
        with self._lock:
            return self._passwords.get(user)

    def authenticate(self, user: str, password: str) -> bool:
        return self.password(user) == password

    def create_user(self, user: str, password: str, if_not_exists: bool) -> None:
        with self._lock:
            if user in self._passwords:
                if if_not_exists:
                    return
                raise SrError(f"Operation CREATE USER failed for {identity(user)} : user already exists", 5001)
            self._passwords[user] = password
            self._grants[user] = set()

    def drop_user(self, user: str, if_exists: bool) -> None:
        if user == self.admin:
            raise SrError(f"Operation DROP USER failed for {identity(user)} : cannot drop user {user}", 5001)
        with self._lock:
            if user not in self._passwords:
                if if_exists:
                    return
                raise SrError(f"Operation DROP USER failed for {identity(user)} : user not exists", 5001)
            del self._passwords[user]
            self._grants.pop(user, None)

    def _require_user(self, user: str) -> set[Grant]:
        if user not in self._passwords:
            raise SrError(f"Getting analyzing error. Detail message: cannot find user {identity(user)}.", 1064)
        return self._grants.setdefault(user, set())

    # --- grants ----------------------------------------------------------------------------
    def grant(self, user: str, grants: list[Grant]) -> None:
        with self._lock:
            if user == self.admin:
                return  # holds everything already
            self._require_user(user).update(grants)

    def revoke(self, user: str, grants: list[Grant]) -> None:
        with self._lock:
            if user == self.admin:
                raise not_supported(f"REVOKE from the administrator {user}")
            self._require_user(user).difference_update(grants)

    def show_grants(self, user: str) -> list[list[str]]:
        """SHOW GRANTS' rows: UserIdentity, Catalog, Grants."""
        with self._lock:
            if user == self.admin:
                return [[identity(user), None, f"GRANT 'root' TO {identity(user)}"]]
            grants = sorted(self._require_user(user), key=lambda g: (g.kind, g.db, g.table, g.privilege))
        return [[identity(user), DEFAULT_CATALOG, g.statement(identity(user))] for g in grants]

    # --- checks ----------------------------------------------------------------------------
    def holds(self, user: str, privilege: str, kind: str, db: str = "", table: str = "") -> bool:
        if user == self.admin:
            return True
        with self._lock:
            grants = self._grants.get(user, set())
        for g in grants:
            if g.privilege != privilege or g.kind != kind:
                continue
            if kind == "CATALOG":
                return True
            if g.db not in (ANY, db.lower()):
                continue
            if kind == "DATABASE" or g.table in (ANY, table.lower()):
                return True
        return False

    def require(self, user: str, privilege: str, kind: str, db: str = "", table: str = "") -> None:
        """Raise StarRocks' access-denied error unless `user` holds `privilege` on the object."""
        if not self.holds(user, privilege, kind, db, table):
            name = {"CATALOG": DEFAULT_CATALOG, "DATABASE": db, "TABLE": table}[kind]
            raise access_denied(privilege, kind, name)

    def any_on_table(self, user: str, db: str, table: str) -> bool:
        return any(self.holds(user, p, "TABLE", db, table) for p in TABLE_PRIVILEGES)

    def any_in_database(self, user: str, db: str) -> bool:
        """Some privilege on the database or on a table in it: what USE and SHOW DATABASES ask."""
        if user == self.admin:
            return True
        with self._lock:
            grants = self._grants.get(user, set())
        return any(g.kind in ("DATABASE", "TABLE") and g.db in (ANY, db.lower()) for g in grants)

    def require_admin(self, user: str, what: str) -> None:
        if user != self.admin:
            raise access_denied("GRANT", "SYSTEM", None)


# --- GRANT / REVOKE / CREATE USER / DROP USER / SHOW GRANTS statements -----------------------
_USER = r"(?:'([^']+)'|`([^`]+)`|\"([^\"]+)\"|([A-Za-z0-9_]+))(?:\s*@\s*(?:'[^']*'|\"[^\"]*\"|`[^`]*`|\S+))?"
_NAME = r"(?:`(?:[^`]|``)+`|[A-Za-z0-9_$\-]+)"


def _user(m: re.Match, first: int) -> str:
    return next(g for g in m.groups()[first:first + 4] if g is not None)


def _unq(name: str) -> str:
    name = name.strip()
    return name[1:-1].replace("``", "`") if name.startswith("`") else name


def _privileges(text: str, allowed: tuple[str, ...]) -> list[str]:
    words = [" ".join(p.split()).upper() for p in text.split(",")]
    if any(w in ("ALL", "ALL PRIVILEGES") for w in words):
        return list(allowed)
    bad = [w for w in words if w not in allowed]
    if bad:
        raise SrError(f"Getting analyzing error. Detail message: Cannot grant or revoke '{bad[0]}' on this "
                      "object type.", 1064)
    return words


def parse_grants(body: str, engine) -> list[Grant]:
    """The grants `<privileges> ON <object>` names, checked against what exists (a named database or table)."""
    m = re.match(r"(.+?)\s+ON\s+(.+)$", body, re.I | re.S)
    if not m:
        raise not_supported(f"GRANT/REVOKE of a role ({body[:60]}): the stand-in has no roles")
    privs, target = m.group(1), m.group(2).strip()
    tm = re.fullmatch(rf"ALL\s+TABLES\s+IN\s+(?:ALL\s+DATABASES|DATABASE\s+({_NAME}))", target, re.I)
    if tm:
        db = _unq(tm.group(1)).lower() if tm.group(1) else ANY
        if db != ANY:
            engine.require_database(db)
        return [Grant(p, "TABLE", db, ANY) for p in _privileges(privs, TABLE_PRIVILEGES)]
    tm = re.fullmatch(r"TABLE\s+(.+)", target, re.I | re.S)
    if tm:
        out = []
        for item in tm.group(1).split(","):
            nm = re.fullmatch(rf"\s*({_NAME})\s*\.\s*({_NAME})\s*", item)
            if not nm:
                raise not_supported(f"GRANT ON TABLE without its database ({item.strip()})")
            db, table = _unq(nm.group(1)), _unq(nm.group(2))
            engine.require_table(db, table)
            out += [Grant(p, "TABLE", db.lower(), table.lower()) for p in _privileges(privs, TABLE_PRIVILEGES)]
        return out
    dm = re.fullmatch(r"(?:ALL\s+DATABASES|DATABASE\s+(.+))", target, re.I | re.S)
    if dm:
        names = [ANY] if not dm.group(1) else [_unq(n) for n in dm.group(1).split(",")]
        for name in names:
            if name != ANY:
                engine.require_database(name)
        return [Grant(p, "DATABASE", n.lower(), "") for n in names for p in _privileges(privs, DATABASE_PRIVILEGES)]
    cm = re.fullmatch(rf"CATALOG\s+({_NAME})", target, re.I)
    if cm:
        if _unq(cm.group(1)) != DEFAULT_CATALOG:
            raise not_supported(f"privileges on external catalog {_unq(cm.group(1))}")
        return [Grant(p, "CATALOG") for p in _privileges(privs, CATALOG_PRIVILEGES)]
    raise not_supported(f"GRANT/REVOKE ON {target[:60]}")


def account_statement(sql: str, user: str, accounts: Accounts, engine):
    """CREATE USER, DROP USER, GRANT, REVOKE and SHOW GRANTS; None for any other statement."""
    m = re.match(rf"CREATE\s+USER\s+(IF\s+NOT\s+EXISTS\s+)?{_USER}\s*(.*)$", sql, re.I | re.S)
    if m:
        accounts.require_admin(user, "CREATE USER")
        rest = m.group(6).strip()
        pm = re.fullmatch(r"IDENTIFIED\s+BY\s+(?:PASSWORD\s+)?'((?:[^'\\]|\\.)*)'", rest, re.I | re.S)
        if rest and not pm:
            raise not_supported(f"CREATE USER ... {rest[:40]} (only IDENTIFIED BY 'password')")
        accounts.create_user(_user(m, 1), pm.group(1) if pm else "", bool(m.group(1)))
        return [], []
    m = re.match(rf"DROP\s+USER\s+(IF\s+EXISTS\s+)?{_USER}\s*$", sql, re.I | re.S)
    if m:
        accounts.require_admin(user, "DROP USER")
        accounts.drop_user(_user(m, 1), bool(m.group(1)))
        return [], []
    m = re.match(rf"(GRANT|REVOKE)\s+(.+?)\s+(?:TO|FROM)\s+(USER\s+|ROLE\s+)?{_USER}\s*(.*)$", sql, re.I | re.S)
    if m:
        accounts.require_admin(user, m.group(1).upper())
        if (m.group(3) or "").strip().upper() == "ROLE":
            raise not_supported(f"{m.group(1).upper()} ... ROLE: the stand-in has no roles")
        if m.group(8).strip():
            raise not_supported(f"{m.group(1).upper()} ... {m.group(8).strip()[:40]}")
        grants = parse_grants(m.group(2), engine)
        target = _user(m, 3)
        (accounts.grant if m.group(1).upper() == "GRANT" else accounts.revoke)(target, grants)
        return [], []
    m = re.match(rf"SHOW\s+GRANTS(?:\s+FOR\s+(ROLE\s+)?{_USER})?\s*$", sql, re.I | re.S)
    if m:
        if m.group(1):
            raise not_supported("SHOW GRANTS FOR ROLE: the stand-in has no roles")
        target = _user(m, 1) if any(m.groups()[1:5]) else user
        if target != user:
            accounts.require_admin(user, "SHOW GRANTS FOR")
        return accounts.show_grants(target), ["UserIdentity", "Catalog", "Grants"]
    if re.match(r"(CREATE|DROP|ALTER|SET)\s+(ROLE|DEFAULT\s+ROLE)\b", sql, re.I) or re.match(
            r"SET\s+ROLE\b", sql, re.I):
        raise not_supported(f"{' '.join(sql.split()[:2]).upper()}: the stand-in has no roles")
    return None
