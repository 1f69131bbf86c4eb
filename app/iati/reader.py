"""An IATI 2.03 activity file read as ledger documents (app/imports/document.py).

Each parent activity (hierarchy 1, or none given) is a programme; its children
(hierarchy 2, naming it in `related-activity` type 1) are its initiatives. A file of
several parents (the whole ledger's export) is a list of documents, imported in one
transaction as a backup of several programmes is. The ledger's
own marks (app/iati/writer.py, LEDGER_NS) put back what IATI has no element for — the
pledge, a budget line split into years, a result's group — so the ledger's own file
reads back whole; a file from elsewhere is read from IATI's elements alone.

What cannot be mapped is said in `notes`, never dropped silently: elements the ledger
does not hold (locations, policy markers …), organisations without a ref, results
beyond one indicator and period, every activity outside the programmes. The mapped
documents then goes through the importer's own reader (`read_parsed`: its limits,
its validation, its problems by place), so an IATI file is held to the rules any file
is.

The file is untrusted: at most MAX_FILE_BYTES, UTF-8, no DOCTYPE (IATI needs none, and
entities are how a small file expands into a huge one), and at most MAX_DOCUMENTS parent
activities (a backup's limit of programmes), counted before anything is mapped. The
ledger's own marks of shared records (rates, sources, groups) are read once: the first
document carries them all, as a backup's first document carries the shared records, and
the later ones (imported after it in the same transaction) carry the groups and sources
their own records name. A mark written twice, or two parents of one identifier, is
refused: neither is silently the other.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, ParseError, fromstring

from app.errors import ErrorCode
from app.iati import codelists as c
from app.iati import elements as e
from app.iati import read_money
from app.iati.writer import ours
from app.imports.reader import MAX_DOCUMENTS, MAX_FILE_BYTES, Read, read_document, read_parsed
from app.imports.report import MAX_LISTED, Problem
from app.imports.sheets import is_zip, read_archive

# The elements of a child activity (an initiative) this reader maps; any other is
# named in the notes.
_MAPPED = {
    "iati-identifier", "reporting-org", "title", "description", "participating-org",
    "activity-status", "activity-date", "recipient-country", "sector", "budget",
    "transaction", "document-link", "related-activity", "result", "planned-disbursement",
    ours("programme"), ours("initiative"), ours("share"), ours("milestone"),
}  # fmt: skip
# The parent's (the programme's): its name, sponsor, dates and documents. Its money,
# sectors, countries and results have no place on a programme (the ledger holds them on
# initiatives); `_Mapper.parent_notes` names each of them, the rest are named as above.
_PARENT_MAPPED = {
    "iati-identifier", "reporting-org", "title", "description", "activity-date",
    "document-link", "related-activity", ours("programme"),
}  # fmt: skip


def read_any(data: bytes, max_bytes: int = MAX_FILE_BYTES) -> Read:
    """An IATI file (XML: it starts with "<"), a workbook or a zip of CSV files (a zip
    archive, app/imports/sheets.py) or a document of the ledger's format."""
    if data.lstrip()[:1] == b"<":
        return read_iati(data, max_bytes)
    if is_zip(data):
        return read_archive(data, max_bytes)
    return read_document(data, max_bytes)


def read_iati(data: bytes, max_bytes: int = MAX_FILE_BYTES) -> Read:
    if len(data) > max_bytes:
        return _refused(
            ErrorCode.DOCUMENT_TOO_LARGE, f"the file has {len(data)} bytes; at most {max_bytes}"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return _refused(ErrorCode.DOCUMENT_INVALID, f"not UTF-8 text (byte {error.start})")
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        return _refused(ErrorCode.DOCUMENT_INVALID, "a DOCTYPE is not read (IATI needs none)")
    try:
        root = fromstring(text)
    except ParseError as error:
        return _refused(ErrorCode.DOCUMENT_INVALID, f"not XML: {error}")
    if root.tag != "iati-activities":
        return _refused(ErrorCode.DOCUMENT_INVALID, "not an IATI activity file")
    notes = _Notes()
    if root.get("version") != c.VERSION:
        notes.append(f"the file is IATI {root.get('version')}, read as {c.VERSION}")
    raw = _Mapper(notes).documents(root)
    if isinstance(raw, Problem):
        return Read(problems=[raw], notes=notes.listed())
    read = read_parsed(raw)
    read.notes.extend(notes.listed())
    return read


class _Notes(list[str]):
    """Notes of what was not read, at most MAX_LISTED of them (a file may hold millions
    of activities outside its programme); the rest are counted."""

    more = 0

    def append(self, note: str) -> None:
        if len(self) < MAX_LISTED:
            super().append(note)
        else:
            self.more += 1

    def listed(self) -> list[str]:
        return [*self, f"and {self.more} more notes"] if self.more else list(self)


def _refused(code: ErrorCode, message: str) -> Read:
    return Read(problems=[Problem("", code, message)])


def _repeated(values: list[str]) -> str | None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


def _twice(mark: str, key: str, value: str) -> Problem:
    return Problem(
        "",
        ErrorCode.DOCUMENT_INVALID,
        f"{mark} {key}={value!r} is written twice; write each once",
    )


def _span(element: Element) -> str:
    return f"{e.date(element, 'period-start') or '?'}..{e.date(element, 'period-end') or '?'}"


def _value(activity: Element, element: Element) -> str:
    value = element.find("value")
    currency = (value.get("currency") if value is not None else None) or activity.get(
        "default-currency"
    )
    return f"{element.findtext('value', '').strip()} {currency}"


class _Mapper:
    def __init__(self, notes: list[str]) -> None:
        self.notes = notes
        self.orgs: dict[str, dict[str, Any]] = {}
        self.sources: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        # The file's own marks of shared records, read once (`marks`).
        self.marked_sources: dict[str, dict[str, Any]] = {}
        self.marked_groups: dict[str, dict[str, Any]] = {}
        self.marked_rates: list[dict[str, Any]] = []

    def documents(self, root: Element) -> list[dict[str, Any]] | Problem:
        """A document per parent activity (a whole-ledger export holds several), each
        with the children that name it; an activity that is neither is named."""
        activities = root.findall("iati-activity")
        parents = [a for a in activities if a.get("hierarchy", "1") == "1"]
        if not parents:
            return Problem(
                "",
                ErrorCode.DOCUMENT_INVALID,
                "a file is read as programmes: at least one parent activity (hierarchy 1)",
            )
        if len(parents) > MAX_DOCUMENTS:
            return Problem(
                "",
                ErrorCode.DOCUMENT_TOO_LARGE,
                f"the file has {len(parents)} parent activities (programmes); at most "
                f"{MAX_DOCUMENTS} are read at once",
            )
        ids = [p.findtext("iati-identifier", "").strip() for p in parents]
        twice = _repeated(ids)
        if twice is not None:
            return Problem(
                "",
                ErrorCode.DOCUMENT_INVALID,
                f"two parent activities have the iati-identifier {twice!r}: one programme is "
                "one activity",
            )
        problem = self.marks(root)
        if problem is not None:
            return problem
        children: dict[str, list[Element]] = {identifier: [] for identifier in ids}
        for activity in activities:
            if activity.get("hierarchy", "1") == "1":
                continue
            named = [ref for ref in self._parents(activity) if ref in children]
            if named:
                children[named[0]].append(activity)
            else:
                identifier = activity.findtext("iati-identifier")
                of = repr(ids[0]) if len(ids) == 1 else "any parent activity of the file"
                self.notes.append(f"activity {identifier!r} is not a child of {of}: not read")
        documents = []
        for i, (parent, identifier) in enumerate(zip(parents, ids, strict=True)):
            found = self.document(parent, children[identifier], first=i == 0)
            if isinstance(found, Problem):
                return found
            documents.append(found)
        return documents

    def document(
        self, parent: Element, children: list[Element], *, first: bool
    ) -> dict[str, Any] | Problem:
        # Each document names the records it uses; the first also carries every shared
        # record the file marks (later documents, in the same transaction, find them).
        self.orgs, self.sources, self.groups = {}, {}, {}
        rates: list[dict[str, Any]] = []
        if first:
            self.sources, self.groups = dict(self.marked_sources), dict(self.marked_groups)
            rates = self.marked_rates
        sponsor = self.org(parent.find("reporting-org"))
        if sponsor is None:
            return Problem("", ErrorCode.DOCUMENT_INVALID, "the programme has no reporting-org ref")
        initiatives = [self.initiative(a, i + 1, sponsor) for i, a in enumerate(children)]
        program = self.program(parent, sponsor, initiatives)
        self.parent_notes(parent, sponsor)
        self.unmapped(parent, _PARENT_MAPPED)
        return {
            "format": "pledge-ledger/1",
            "sources": list(self.sources.values()),
            "organizations": list(self.orgs.values()),
            "program": program,
            "exchange_rates": rates,
            "beneficiary_groups": list(self.groups.values()),
            "initiatives": initiatives,
        }

    def marks(self, root: Element) -> Problem | None:
        """The ledger's own marks at the file's end, read once: the rates its reports
        convert at, the sources they name, and the beneficiary groups in the ledger's
        order. A source or group marked twice is refused (which one would be meant?); a
        rate marked twice the importer refuses at its place (ALREADY_EXISTS)."""
        for found in root.findall(ours("source")):
            marks = dict(found.attrib)
            ref = marks.get("ref", "")
            if ref in self.marked_sources:
                return _twice("ledger:source", "ref", ref)
            self.marked_sources[ref] = {
                "ref": marks.get("ref"),
                "title": marks.get("title"),
                **{
                    name.replace("-", "_"): marks[name]
                    for name in ("url", "publisher", "published-on", "language", "category")
                    if name in marks
                },
            }
        for found in root.findall(ours("beneficiary-group")):
            group = {name: text for name, text in found.attrib.items()}
            code = group.get("code", "")
            if code in self.marked_groups:
                return _twice("ledger:beneficiary-group", "code", code)
            self.marked_groups[code] = group
        self.marked_rates = [
            {name.replace("-", "_"): text for name, text in found.attrib.items()}
            for found in root.findall(ours("exchange-rate"))
        ]
        return None

    def group(self, code: str, name: str) -> None:
        """The group `code` among the document's: as the file marks it, else by `name`."""
        if code not in self.groups:
            self.groups[code] = self.marked_groups.get(code) or {"code": code, "name": name}

    @staticmethod
    def _parents(activity: Element) -> list[str]:
        return [
            (r.get("ref") or "").strip()
            for r in activity.findall("related-activity")
            if r.get("type") == c.PARENT
        ]

    def parent_notes(self, parent: Element, sponsor: str) -> None:
        """What the parent activity holds that a programme cannot: each named. Money is
        held on initiatives only (a programme holds its pledge), and so are sectors,
        countries and results. Of the ledger's own file (its `programme` mark) the
        sectors, countries and status are its children's, written from them: not news."""
        identifier = parent.findtext("iati-identifier", "").strip()
        why = (
            "a programme holds no money of its own (budgets and transactions are its initiatives')"
        )
        for budget in parent.findall("budget"):
            self.notes.append(
                f"{identifier}: the programme's budget {_span(budget)} of {_value(parent, budget)}"
                f" is not read: {why}"
            )
        for element in parent.findall("planned-disbursement"):
            self.notes.append(
                f"{identifier}: the programme's planned disbursement {_span(element)} of "
                f"{_value(parent, element)} is not read: {why}"
            )
        for tx in parent.findall("transaction"):
            kind = tx.find("transaction-type")
            date = tx.find("transaction-date")
            self.notes.append(
                f"{identifier}: the programme's transaction {tx.get('ref') or ''!r} "
                f"(type {kind.get('code') if kind is not None else None}, "
                f"{date.get('iso-date') if date is not None else 'undated'}) of "
                f"{_value(parent, tx)} is not read: {why}"
            )
        for result in parent.findall("result"):
            self.notes.append(
                f"{identifier}: the programme's result {e.text(result.find('title'))!r} is not "
                "read: beneficiary figures are held on initiatives"
            )
        for org in parent.findall("participating-org"):
            if org.get("ref") == sponsor and org.get("role") == c.ORGANISATION_ROLE_FUNDING:
                continue  # the sponsor as funder: the programme's sponsor
            self.notes.append(
                f"{identifier}: the programme's participating organisation "
                f"{org.get('ref') or e.text(org)!r} (role {org.get('role')}) is not read: "
                "participations are held on initiatives"
            )
        if parent.find(ours("programme")) is not None:
            return  # the export's own: its children's sectors, countries and status
        places = [
            f"{tag} {element.get('code')}"
            for tag in ("sector", "recipient-country", "recipient-region")
            for element in parent.findall(tag)
        ]
        if places:
            self.notes.append(
                f"{identifier}: the programme's {', '.join(places)} not read: a focus area and "
                "region are held per initiative"
            )
        status = parent.find("activity-status")
        if status is not None:
            self.notes.append(
                f"{identifier}: the programme's activity-status {status.get('code')} is not "
                "read: a programme's status is its initiatives'"
            )

    def unmapped(self, activity: Element, mapped: set[str] = _MAPPED) -> None:
        noted = {"budget", "planned-disbursement", "transaction", "result", "sector",
                 "recipient-country", "recipient-region", "activity-status",
                 "participating-org"} if mapped is _PARENT_MAPPED else set()  # fmt: skip
        skipped = sorted({e.tag for e in activity if e.tag not in mapped | noted})
        if skipped:
            identifier = activity.findtext("iati-identifier")
            self.notes.append(
                f"{identifier}: not held by the ledger, not read: {', '.join(skipped)}"
            )

    def org(self, element: Element | None) -> str | None:
        """The organisation's ref, recorded once; None (with a note) without one."""
        if element is None:
            return None
        ref = (element.get("ref") or "").strip()
        name = e.text(element) or ref
        if not ref:
            self.notes.append(f"an organisation without a ref ({name!r}) is not read")
            return None
        if ref not in self.orgs:
            kind = c.READ_KIND.get(element.get("type") or "", "other")
            self.orgs[ref] = {"ref": ref, "name": name or ref, "kind": kind}
        return ref

    def program(
        self, parent: Element, sponsor: str, initiatives: list[dict[str, Any]]
    ) -> dict[str, Any]:
        own = parent.find(ours("programme"))
        marks = own.attrib if own is not None else {}
        identifier = parent.findtext("iati-identifier", "").strip()
        dates = {d.get("type"): d.get("iso-date") for d in parent.findall("activity-date")}
        program: dict[str, Any] = {
            "ref": marks.get("ref") or identifier.removeprefix(f"{sponsor}-"),
            "name": e.text(parent.find("title")) or identifier,
            "summary": self.summary(parent),
            "sponsor": sponsor,
            "announced_on": marks.get("announced-on") or dates.get(c.PLANNED_START),
            "deadline": marks.get("deadline") or dates.get(c.PLANNED_END),
            "governance_body": marks.get("governance-body"),
            "governance_lead": marks.get("governance-lead"),
        }
        e.carried(program, "summary", "announced_on", "deadline", "governance_body")
        e.carried(program, "governance_lead")
        if program.get("summary") == program["name"]:
            program["summary"] = None  # the export writes the title where there is none
        if "pledged" in marks:
            program["pledged"] = {"amount": marks["pledged"], "currency": marks.get("currency")}
        else:
            # A file from elsewhere states no pledge: the importer makes the programme's
            # current budget its pledge, by the ledger's one rule of the current budget.
            program["pledged"] = {"currency": parent.get("default-currency")}
        self.links(parent)
        return program

    def links(self, activity: Element) -> None:
        for link in activity.findall("document-link"):
            ref = link.get(ours("ref")) or link.get("url", "")[:64]
            if not ref or ref in self.sources:
                continue
            if ref in self.marked_sources:
                self.sources[ref] = self.marked_sources[ref]
                continue
            language = link.find("language")
            date = link.find("document-date")
            self.sources[ref] = e.carried(
                {
                    "ref": ref,
                    "title": e.text(link.find("title")) or ref,
                    "url": link.get("url"),
                    "language": language.get("code") if language is not None else None,
                    "category": self.category(link),
                    "published_on": date.get("iso-date") if date is not None else None,
                },
                "url",
                "language",
                "category",
                "published_on",
            )
        if activity.findall("document-link"):
            self.notes.append(
                f"{activity.findtext('iati-identifier')}: its documents are read as sources, "
                "without the words each figure rests on (IATI has no citations)"
            )

    @staticmethod
    def category(link: Element) -> str | None:
        """The ledger's own category where the export marked it ("" for none), else the
        name the DocumentCategory code reads back as (codelists.DOCUMENT_CATEGORY)."""
        own = link.get(ours("category"))
        if own is not None:
            return own or None
        category = link.find("category")
        return c.READ_CATEGORY.get(category.get("code", "")) if category is not None else None

    def initiative(self, activity: Element, position: int, sponsor: str) -> dict[str, Any]:
        own = activity.find(ours("initiative"))
        marks = own.attrib if own is not None else {}
        identifier = activity.findtext("iati-identifier", "").strip()
        dates = {d.get("type"): d.get("iso-date") for d in activity.findall("activity-date")}
        if marks.get("borrowed-dates") == "1":
            dates = {}  # the programme's, written as IATI needs a date: not the initiative's
        status = activity.find("activity-status")
        initiative: dict[str, Any] = {
            "code": marks.get("code") or identifier.removeprefix(f"{sponsor}-"),
            "position": int(marks["position"]) if marks.get("position", "").isdigit() else position,
            "title": e.text(activity.find("title")) or identifier,
            "summary": self.summary(activity),
            "focus_area": marks.get("focus-area") or self.focus_area(activity),
            "status": c.READ_STATUS.get(
                status.get("code", "") if status is not None else "", "pipeline"
            ),
            "planned_start": dates.get(c.PLANNED_START),
            "actual_start": dates.get(c.ACTUAL_START),
            "planned_end": dates.get(c.PLANNED_END),
            "actual_end": dates.get(c.ACTUAL_END),
            "region": marks.get("region") or self.region(activity),
        }
        e.carried(initiative, "summary", "focus_area", "planned_start", "actual_start")
        e.carried(initiative, "planned_end", "actual_end", "region")
        if initiative.get("summary") == initiative["title"]:
            initiative["summary"] = None  # the export writes the title where there is none
        initiative["participants"] = self.participants(activity)
        initiative["budget_lines"] = read_money.budget_lines(activity, self.notes)
        initiative["transactions"] = read_money.transactions(activity, self.notes, self.org)
        read_money.planned_disbursements(activity, self.notes)
        initiative["beneficiaries"] = self.results(activity)
        initiative["shares"] = self.shares(activity)
        initiative["milestones"] = [
            {name.replace("-", "_"): text for name, text in stone.attrib.items()}
            for stone in activity.findall(ours("milestone"))
        ]
        self.links(activity)
        self.unmapped(activity)
        return initiative

    def focus_area(self, activity: Element) -> str | None:
        """The sector of the reporting organisation's own vocabulary, else the first."""
        sectors = activity.findall("sector")
        own = [s for s in sectors if s.get("vocabulary") == c.SECTOR_VOCABULARY_OWN]
        chosen = own or sectors
        if not chosen:
            return None
        if len(chosen) > 1:
            self.notes.append(
                f"{activity.findtext('iati-identifier')}: {len(chosen)} sectors; the ledger "
                "holds one focus area, the first is read"
            )
        return e.text(chosen[0]) or chosen[0].get("code")

    def region(self, activity: Element) -> str | None:
        countries = activity.findall("recipient-country")
        if len(countries) > 1:
            self.notes.append(
                f"{activity.findtext('iati-identifier')}: {len(countries)} recipient countries; "
                "the ledger holds one region, the first is read"
            )
        return countries[0].get("code") if countries else None

    def participants(self, activity: Element) -> list[dict[str, Any]]:
        found = []
        for element in activity.findall("participating-org"):
            if element.get(ours("implied")) == "1":
                continue  # the export's own: the sponsor as every initiative's funder
            ref = self.org(element)
            role = c.READ_ROLE.get(element.get("role") or "")
            if ref is not None and role is None:
                self.notes.append(
                    f"{activity.findtext('iati-identifier')}: organisation {ref!r} in role "
                    f"{element.get('role')!r} is not read: the ledger holds the roles "
                    f"{', '.join(sorted(c.READ_ROLE))} (OrganisationRole)"
                )
            if ref is not None and role is not None:
                found.append({"org": ref, "role": role})
        return found

    def summary(self, activity: Element) -> str | None:
        """The general description (DescriptionType 1, or no type given); the other
        types (objectives, target groups, other) are named in a note."""
        general = None
        for element in activity.findall("description"):
            kind = element.get("type") or c.GENERAL_DESCRIPTION
            if kind == c.GENERAL_DESCRIPTION and general is None:
                general = e.text(element)
            else:
                self.notes.append(
                    f"{activity.findtext('iati-identifier')}: a description of type {kind} "
                    f"({c.DESCRIPTION_TYPE.get(kind, 'unknown')}) is not read: the ledger holds "
                    "one summary, the general description"
                )
        return general

    def shares(self, activity: Element) -> list[dict[str, Any]]:
        found = []
        for share in activity.findall(ours("share")):
            group = share.get("group", "")
            self.group(group, share.get("name") or group)
            found.append({"group": group, "percentage": share.get("percentage")})
        return found

    def results(self, activity: Element) -> list[dict[str, Any]]:
        """Each result as a beneficiary figure: its first indicator's first period."""
        found = []
        identifier = activity.findtext("iati-identifier")
        for result in activity.findall("result"):
            title = e.text(result.find("title")) or ""
            indicators = result.findall("indicator")
            periods = indicators[0].findall("period") if indicators else []
            if len(indicators) != 1 or len(periods) > 1:
                self.notes.append(
                    f"{identifier}: result {title!r} has {len(indicators)} indicators and "
                    f"{len(periods)} periods; the first of each is read"
                )
            if not indicators:
                continue
            measure = indicators[0].get("measure") or c.MEASURE_UNIT
            if measure != c.MEASURE_UNIT:
                self.notes.append(
                    f"{identifier}: result {title!r} is not read: its indicator measures "
                    f"{c.INDICATOR_MEASURE.get(measure, 'measure ' + measure)}, and a "
                    "beneficiary figure counts units"
                )
                continue
            baseline = indicators[0].find("baseline")
            if baseline is not None and result.get(ours("group")) is None:
                self.notes.append(
                    f"{identifier}: result {title!r}: its baseline ({baseline.get('value')}, "
                    f"{baseline.get('iso-date') or baseline.get('year')}) is not read: a "
                    "beneficiary figure holds a target and a reach, no baseline"
                )
            name, _, unit = title.partition(": ")
            group = result.get(ours("group")) or name.strip().lower().replace(" ", "-")[:64]
            self.group(group, name or group)
            period = periods[0] if periods else None
            target = period.find("target") if period is not None else None
            actual = period.find("actual") if period is not None else None
            figure: dict[str, Any] = {
                "group": group,
                "unit": e.text(indicators[0].find("title")) or unit or "units",
                "target_value": e.decimal(target.get("value")) if target is not None else None,
                "target_date": None
                if period is None or result.get(ours("no-target-date"))
                else e.date(period, "period-end"),
                "reached_value": e.decimal(actual.get("value")) if actual is not None else None,
            }
            approved_by = result.get(ours("approved-by"))
            if approved_by is not None and figure["reached_value"] is not None:
                figure["approved_by"] = approved_by or None  # "": no one named
                figure["approved_at"] = result.get(ours("approved-at"))
            if period is not None:  # the period states the reach, or that there is none
                figure["reached_qualifier"] = result.get(ours("reached-qualifier"), "exact")
                figure["reached_as_of"] = result.get(ours("reached-as-of"))
            else:  # no values written (no period): nothing said of them
                e.carried(figure, "target_value", "target_date", "reached_value")
            found.append(figure)
        return found
