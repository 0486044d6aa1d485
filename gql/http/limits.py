"""Query limits (docs/architecture.md section 7): depth, aliases, fields,
directives and cost, counted with every fragment spread expanded, so a
fragment used ten times counts ten times and a small document cannot ask for
a large amount of work.

They are measured in time linear in the document, whatever it expands to: a
chain of twenty fragments each spreading the previous twice expands to a
million fields, yet each fragment is measured once, as a sum its spreads
reuse. Each definition (operation or fragment) is walked once into its own
sizes plus the fragments it spreads (with the nesting and the list
multiplier at each spread); the fragments are then combined in dependency
order without walking them again. The walk stops at the first budget
exceeded: every size only grows as fragments are combined into operations,
so a part over a budget means the whole is. ``WORK`` counts the selections
looked at (tests/test_attacks.py holds it to the document's tokens).

This runs before graphql-core's own validation rules (``gql.http.graphql_schema``),
after the body limit and the token limit of the parser, the cheapest of all.
Fragment cycles and unknown fragments are graphql-core's to report; here a
cyclic or unknown spread counts as empty, so the walk never loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
)
from graphql.language import DocumentNode

from schema.relay import DEFAULT_PAGE_SIZE

LIMIT_CODE = "QUERY_TOO_COMPLEX"


@dataclass(frozen=True, slots=True)
class Budget:
    max_depth: int = 10
    max_aliases: int = 30
    max_fields: int = 250
    max_directives: int = 20
    max_cost: int = 25_000
    # How many items a list that is not a connection is assumed to hold, and
    # what a `first` or `last` given by a variable is assumed to be
    # (validation is cached per document, so it cannot depend on variable
    # values). A connection without either returns its default page (the
    # argument's default, else schema.relay.DEFAULT_PAGE_SIZE) and costs that.
    assumed_list_size: int = 10
    max_page_size: int = 100


@dataclass
class LimitWork:
    """Selections the limit walk has looked at, since the process started."""

    visits: int = 0


WORK = LimitWork()


@dataclass(slots=True)
class _Spread:
    name: str
    multiplier: int  # the product of the list sizes above the spread
    level: int | None  # fields nesting the spread; None inside introspection


@dataclass(slots=True)
class _Size:
    """One definition's sizes, its own fields and, once combined, its spreads'."""

    fields: int = 0
    aliases: int = 0
    directives: int = 0
    cost: int = 0  # at a multiplier of one
    height: int = 0  # fields nested below the definition (strawberry's depth)
    spreads: list[_Spread] = field(default_factory=list)


class _Exceeded(Exception):
    def __init__(self, what: str) -> None:
        self.what = what


def check_limits(
    schema: GraphQLSchema, document: DocumentNode, budget: Budget
) -> list[GraphQLError]:
    """The first limit the document exceeds, as one QUERY_TOO_COMPLEX
    error, or none."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    measure = _Measure(schema, fragments, budget)
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        try:
            measure.operation(definition)
        except _Exceeded as exceeded:
            name = definition.name.value if definition.name else "anonymous"
            return [_error(exceeded.what, name, budget, definition)]
    return []


def _error(
    what: str, name: str, budget: Budget, operation: OperationDefinitionNode
) -> GraphQLError:
    if what == "depth":
        message = f"'{name}' exceeds maximum operation depth of {budget.max_depth}."
    elif what == "cost":
        message = (
            f"The query is too large: it costs more than {budget.max_cost} (nested lists multiply)."
        )
    else:
        limit = {
            "aliases": budget.max_aliases,
            "fields": budget.max_fields,
            "directives": budget.max_directives,
        }[what]
        message = f"The query is too large: more than {limit} {what}."
    return GraphQLError(message, operation, extensions={"code": LIMIT_CODE})


class _Measure:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        budget: Budget,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.budget = budget
        # Each fragment's total sizes, once combined: the memo.
        self.totals: dict[str, _Size] = {}

    def operation(self, operation: OperationDefinitionNode) -> None:
        size = _Size(directives=len(operation.directives or ()))
        root = self.schema.get_root_type(operation.operation)
        self.walk(operation.selection_set, root, 1, 0, size)
        self.check(size)
        self.resolve([s.name for s in size.spreads])
        self.combine(size)

    # ------------------------------------------------------------ one walk each

    def walk(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType | None,
        multiplier: int,
        level: int | None,
        size: _Size,
    ) -> None:
        """Add a definition's own selections to ``size``, recording its
        spreads; ``level`` counts the fields nesting these selections."""
        budget = self.budget
        for selection in selection_set.selections:
            WORK.visits += 1
            size.directives += len(selection.directives or ())
            if isinstance(selection, FieldNode):
                size.fields += 1
                size.cost += multiplier
                if selection.alias is not None:
                    size.aliases += 1
                if level is not None:
                    size.height = max(size.height, level)
                self.check(size)
                if selection.selection_set is None:
                    continue
                field_def = None
                if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
                    field_def = parent.fields.get(selection.name.value)
                child = get_named_type(field_def.type) if field_def is not None else None
                # Introspection does not count towards depth (GraphiQL's own
                # query is deep), as with strawberry's depth limiter: neither
                # a `__` field nor a field of an introspection type (the
                # fragments GraphiQL spreads are on __Type and __InputValue).
                introspection = selection.name.value.startswith("__") or (
                    parent is not None and parent.name.startswith("__")
                )
                child_level = None if level is None or introspection else level + 1
                if child_level is not None and child_level > budget.max_depth:
                    raise _Exceeded("depth")
                factor = self.factor(selection, field_def, parent)
                self.walk(selection.selection_set, child, multiplier * factor, child_level, size)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                narrowed = self.schema.get_type(condition.name.value) if condition else parent
                self.walk(selection.selection_set, narrowed, multiplier, level, size)
            elif isinstance(selection, FragmentSpreadNode):
                size.spreads.append(_Spread(selection.name.value, multiplier, level))
                self.check(size)

    def factor(
        self, node: FieldNode, field_def: GraphQLField | None, parent: GraphQLNamedType | None
    ) -> int:
        """How many items the field's selections are asked for."""
        budget = self.budget
        first_argument = field_def.args.get("first") if field_def is not None else None
        # A page backward (`last`) costs what a page forward (`first`) does;
        # a null one is not given (Relay sends `first: null` with `last`).
        given = [
            a.value
            for a in node.arguments or ()
            if a.name.value in {"first", "last"} and not isinstance(a.value, NullValueNode)
        ]
        if given or first_argument is not None:
            if not given:
                default = first_argument.default_value if first_argument is not None else None
                first = default if isinstance(default, int) else DEFAULT_PAGE_SIZE
            else:
                first = max(
                    int(value.value)
                    if isinstance(value, IntValueNode) and len(value.value) <= 9
                    else budget.max_page_size  # a variable, or out of range anyway
                    for value in given
                )
            return max(1, min(first, budget.max_page_size))
        is_list = field_def is not None and isinstance(
            get_nullable_type(field_def.type), GraphQLList
        )
        # A connection's edges were counted by its `first`.
        in_connection = parent is not None and parent.name.endswith("Connection")
        return budget.assumed_list_size if is_list and not in_connection else 1

    # ------------------------------------------------------------ fragments, combined

    def resolve(self, names: list[str]) -> None:
        """Total every fragment reachable from ``names``, dependencies first,
        without recursion (a chain may be hundreds of fragments long)."""
        in_progress: set[str] = set()
        stack: list[tuple[str, bool]] = [(n, False) for n in reversed(names)]
        own: dict[str, _Size] = {}
        while stack:
            name, dependencies_done = stack.pop()
            if name in self.totals:
                continue
            if dependencies_done:
                in_progress.discard(name)
                size = own.pop(name)
                self.combine(size)
                self.totals[name] = size
                continue
            fragment = self.fragments.get(name)
            if fragment is None or name in in_progress:
                continue  # unknown or cyclic: graphql-core reports those
            in_progress.add(name)
            size = _Size(directives=len(fragment.directives or ()))
            condition = self.schema.get_type(fragment.type_condition.name.value)
            self.walk(fragment.selection_set, condition, 1, 0, size)
            self.check(size)
            own[name] = size
            stack.append((name, True))
            stack.extend((s.name, False) for s in reversed(size.spreads))

    def combine(self, size: _Size) -> None:
        """Add the totals of the fragments ``size`` spreads (cyclic or unknown
        ones add nothing)."""
        for spread in size.spreads:
            total = self.totals.get(spread.name)
            if total is None:
                continue
            size.fields += total.fields
            size.aliases += total.aliases
            size.directives += total.directives
            size.cost += spread.multiplier * total.cost
            if spread.level is not None:
                size.height = max(size.height, spread.level + total.height)
            self.check(size)
        size.spreads = []

    def check(self, size: _Size) -> None:
        budget = self.budget
        if size.height > budget.max_depth:
            raise _Exceeded("depth")
        if size.aliases > budget.max_aliases:
            raise _Exceeded("aliases")
        if size.fields > budget.max_fields:
            raise _Exceeded("fields")
        if size.directives > budget.max_directives:
            raise _Exceeded("directives")
        if size.cost > budget.max_cost:
            raise _Exceeded("cost")
