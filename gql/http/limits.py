"""Query budget (docs/architecture.md section 7): aliases, fields, directives and cost, counted
with every fragment spread expanded, so a fragment used ten times counts ten
times and a small document cannot ask for a large amount of work.

Depth is QueryDepthLimiter's (it follows fragments too) and tokens are
MaxTokensLimiter's, both strawberry's. Fragment cycles are refused by
graphql-core's own rule; this walk guards against them anyway, so it never
loops while validation is still running.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    get_named_type,
    get_nullable_type,
)
from graphql.language import DocumentNode

LIMIT_CODE = "QUERY_TOO_COMPLEX"


@dataclass(frozen=True, slots=True)
class Budget:
    max_aliases: int = 30
    max_fields: int = 250
    max_directives: int = 20
    max_cost: int = 25_000
    # How many items a list without `first` is assumed to hold, and what a
    # `first` given by a variable is assumed to be (validation is cached per
    # document, so it cannot depend on variable values).
    assumed_list_size: int = 10
    max_page_size: int = 100
    default_page_size: int = 20


@dataclass
class _Tally:
    aliases: int = 0
    fields: int = 0
    directives: int = 0
    cost: int = 0


def budget_rule(budget: Budget) -> type[ValidationRule]:
    class QueryBudgetRule(ValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> None:
            context: ValidationContext = self.context
            fragments = {
                d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)
            }
            for definition in node.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                root = context.schema.get_root_type(definition.operation)
                if root is None:
                    continue
                tally = _Tally(directives=len(definition.directives or ()))
                _walk(definition.selection_set, root, 1, fragments, (), tally, budget, context)
                self._check(definition, tally)

        def _check(self, operation: OperationDefinitionNode, tally: _Tally) -> None:
            for amount, limit, what in (
                (tally.aliases, budget.max_aliases, "aliases"),
                (tally.fields, budget.max_fields, "fields"),
                (tally.directives, budget.max_directives, "directives"),
                (tally.cost, budget.max_cost, "cost (nested lists multiply)"),
            ):
                if amount > limit:
                    self.report_error(
                        GraphQLError(
                            f"The query is too large: {what} {amount}, at most {limit}.",
                            operation,
                            extensions={"code": LIMIT_CODE},
                        )
                    )

    return QueryBudgetRule


def _page_size(field: FieldNode, budget: Budget) -> int | None:
    for argument in field.arguments or ():
        if argument.name.value == "first":
            if isinstance(argument.value, IntValueNode):
                return max(1, min(int(argument.value.value), budget.max_page_size))
            return budget.max_page_size
    return None


def _walk(
    selection_set: SelectionSetNode | None,
    parent: GraphQLNamedType | None,
    multiplier: int,
    fragments: dict[str, FragmentDefinitionNode],
    visiting: tuple[str, ...],
    tally: _Tally,
    budget: Budget,
    context: ValidationContext,
) -> None:
    if selection_set is None:
        return
    for selection in selection_set.selections:
        tally.directives += len(selection.directives or ())
        if tally.cost > budget.max_cost * 10:
            return  # far past the limit already: stop counting
        if isinstance(selection, FieldNode):
            tally.fields += 1
            tally.cost += multiplier
            if selection.alias is not None:
                tally.aliases += 1
            field_def: GraphQLField | None = None
            if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
                field_def = parent.fields.get(selection.name.value)
            child_type = get_named_type(field_def.type) if field_def is not None else None
            child_multiplier = multiplier
            first = _page_size(selection, budget)
            if first is not None:
                child_multiplier *= first
            elif field_def is not None and isinstance(
                get_nullable_type(field_def.type), GraphQLList
            ):
                # A connection's edges were counted by its `first`.
                in_connection = parent is not None and parent.name.endswith("Connection")
                if not in_connection:
                    child_multiplier *= budget.assumed_list_size
            _walk(
                selection.selection_set,
                child_type,
                child_multiplier,
                fragments,
                visiting,
                tally,
                budget,
                context,
            )
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            narrowed = context.schema.get_type(condition.name.value) if condition else parent
            _walk(
                selection.selection_set,
                narrowed,
                multiplier,
                fragments,
                visiting,
                tally,
                budget,
                context,
            )
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in visiting:
                continue  # unknown or cyclic: graphql-core reports those
            _walk(
                fragment.selection_set,
                context.schema.get_type(fragment.type_condition.name.value),
                multiplier,
                fragments,
                (*visiting, name),
                tally,
                budget,
                context,
            )
