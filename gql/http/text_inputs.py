"""Control characters in text inputs (docs/architecture.md section 7).

Every String and ID a client sends, in variables, in literals and in the JSON
bodies of the /auth/* routes, is refused with BAD_USER_INPUT before anything
runs when it holds a control character (Unicode Cc: U+0000-U+001F,
U+007F-U+009F). Tabs and line breaks are allowed only in the inputs that
hold several lines of text (``MULTILINE``). A NUL would otherwise be stored
by SQLite and fail on PostgreSQL; the others have no place in names, emails,
codes, ids or searches, and would reach logs, CSV exports and emails.

Checked once, here, for every input, rather than by each mutation: a new
input is covered without anyone remembering to.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import (
    ArgumentNode,
    DirectiveNode,
    ExecutionResult,
    FieldNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLSchema,
    ListValueNode,
    ObjectFieldNode,
    OperationDefinitionNode,
    StringValueNode,
    ValidationRule,
    ValueNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_input_type,
    type_from_ast,
)
from strawberry.extensions.base_extension import SchemaExtension

# The inputs that hold several lines of text: tabs and line breaks allowed.
MULTILINE = frozenset(
    {
        "CreateHomeworkInput.details",
        "FormAnswerInput.value",
        "TerminateSessionsInput.reason",
    }
)
MESSAGE = "Text may not contain control characters"
CODE = "BAD_USER_INPUT"

_ANY = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_BUT_TAB_AND_NEWLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def has_control_characters(text: str, *, multiline: bool = False) -> bool:
    return (_BUT_TAB_AND_NEWLINE if multiline else _ANY).search(text) is not None


def json_has_control_characters(value: Any) -> bool:
    """Any string (or key) of a JSON value with a control character: for
    request bodies whose every field is one line (the /auth/* routes)."""
    if isinstance(value, str):
        return has_control_characters(value)
    if isinstance(value, list):
        return any(json_has_control_characters(v) for v in value)
    if isinstance(value, dict):
        return any(
            has_control_characters(str(k)) or json_has_control_characters(v)
            for k, v in value.items()
        )
    return False


def _refusal(where: str, node: ValueNode | None = None) -> GraphQLError:
    return GraphQLError(f"{MESSAGE}: {where}.", node, extensions={"code": CODE})


# ---------------------------------------------------------------- variables


def variables_problem(
    schema: GraphQLSchema, operation: OperationDefinitionNode, variables: dict[str, Any]
) -> str | None:
    """Where the first control character of the variables is ("$input.title"),
    following each variable's declared type to the input fields it fills."""
    declared = {d.variable.name.value: d for d in operation.variable_definitions or ()}
    for name, value in variables.items():
        definition = declared.get(name)
        variable_type = type_from_ast(schema, definition.type) if definition else None
        input_type = variable_type if is_input_type(variable_type) else None
        where = _value_problem(value, input_type, f"${name}", multiline=False)
        if where is not None:
            return where
    return None


def _value_problem(
    value: Any, value_type: GraphQLInputType | None, path: str, *, multiline: bool
) -> str | None:
    if isinstance(value, str):
        return path if has_control_characters(value, multiline=multiline) else None
    nullable = get_nullable_type(value_type) if value_type is not None else None
    if isinstance(value, list):
        item_type = nullable.of_type if isinstance(nullable, GraphQLList) else None
        for index, item in enumerate(value):
            where = _value_problem(item, item_type, f"{path}.{index}", multiline=multiline)
            if where is not None:
                return where
    elif isinstance(value, dict):
        input_object = nullable if isinstance(nullable, GraphQLInputObjectType) else None
        for key, item in value.items():
            if has_control_characters(str(key)):
                return path
            field = input_object.fields.get(key) if input_object is not None else None
            coordinate = f"{input_object.name}.{key}" if input_object is not None else ""
            where = _value_problem(
                item,
                field.type if field is not None else None,
                f"{path}.{key}",
                multiline=coordinate in MULTILINE,
            )
            if where is not None:
                return where
    return None


class ControlCharactersInVariables(SchemaExtension):
    """Refuses the request before it runs when a variable holds a control
    character (literals are the validation rule's below)."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.variables:
            operation = get_operation_ast(document, context.operation_name)
            if operation is not None:
                where = variables_problem(context.schema._schema, operation, context.variables)
                if where is not None:
                    context.result = ExecutionResult(data=None, errors=[_refusal(where)])
        yield


# ---------------------------------------------------------------- literals


class ControlCharactersRule(ValidationRule):
    """A string literal with a control character is a validation error, named
    by the input field or argument it fills."""

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.checked: set[int] = set()

    def enter_object_field(self, node: ObjectFieldNode, *_: Any) -> None:
        parent = get_named_type(self.context.get_parent_input_type())
        if isinstance(parent, GraphQLInputObjectType):
            coordinate = f"{parent.name}.{node.name.value}"
            self.check(node.value, coordinate, multiline=coordinate in MULTILINE)

    def enter_argument(
        self, node: ArgumentNode, _key: Any, _parent: Any, _path: Any, ancestors: list[Any]
    ) -> None:
        holder = ancestors[-1] if ancestors else None
        parent = self.context.get_parent_type()
        name = node.name.value
        if isinstance(holder, FieldNode) and parent is not None:
            coordinate = f"{parent.name}.{holder.name.value}({name}:)"
        elif isinstance(holder, DirectiveNode):
            coordinate = f"@{holder.name.value}({name}:)"
        else:
            coordinate = f"{name}:"
        self.check(node.value, coordinate, multiline=False)

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        # Any other string (a variable's default value, say).
        if id(node) not in self.checked and has_control_characters(node.value, multiline=True):
            self.report_error(_refusal("text", node))

    def check(self, value: ValueNode, where: str, *, multiline: bool) -> None:
        values = value.values if isinstance(value, ListValueNode) else (value,)
        for item in values:
            if isinstance(item, StringValueNode):
                self.checked.add(id(item))
                if has_control_characters(item.value, multiline=multiline):
                    self.report_error(_refusal(where, item))
