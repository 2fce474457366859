"""Every public module, class, function and method of the library has a docstring
(numpydoc, one style: ``Parameters``/``Returns`` sections with dashes, never Google's
``Args:``). A method may inherit its docstring from the method it overrides."""

import importlib
import inspect
import pkgutil
import re

import ml2bench

GOOGLE_SECTION = re.compile(r"^\s*(Args|Arguments|Returns|Raises|Yields|Attributes):\s*$", re.M)


def modules():
    names = [ml2bench.__name__]
    for info in pkgutil.walk_packages(ml2bench.__path__, prefix="ml2bench."):
        names.append(info.name)
    return sorted(n for n in names if not n.endswith("__main__"))


def public_objects(module):
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj):
            yield f"{module.__name__}.{name}", obj
            for attr, member in vars(obj).items():
                if attr.startswith("_") or not (inspect.isfunction(member)
                                                or isinstance(member, property)):
                    continue
                yield f"{module.__name__}.{name}.{attr}", getattr(obj, attr) \
                    if not isinstance(member, property) else member
        elif inspect.isfunction(obj):
            yield f"{module.__name__}.{name}", obj


def inherited_doc(qualname, obj):
    doc = inspect.getdoc(obj)
    if doc:
        return doc
    owner_name, _, attr = qualname.rpartition(".")
    module_name, _, class_name = owner_name.rpartition(".")
    owner = getattr(importlib.import_module(module_name), class_name, None)
    if inspect.isclass(owner):
        for base in owner.__mro__[1:]:
            member = base.__dict__.get(attr)
            if member is not None and inspect.getdoc(member):
                return inspect.getdoc(member)
    return None


def problems_of(name):
    """What is wrong with module ``name``'s docstrings (empty if nothing)."""
    module = importlib.import_module(name)
    problems = [] if inspect.getdoc(module) else ["no module docstring"]
    missing, google = [], []
    for qualname, obj in public_objects(module):
        doc = inherited_doc(qualname, obj)
        if not doc:
            missing.append(qualname)
        elif GOOGLE_SECTION.search(doc):
            google.append(qualname)
    if missing:
        problems.append(f"no docstring: {missing}")
    if google:
        problems.append(f"Google-style sections (use numpydoc): {google}")
    return problems


def test_public_api_is_documented_in_one_style():
    """One test over every module; the message names each failing module and why."""
    failing = {name: problems for name in modules() if (problems := problems_of(name))}
    assert not failing, "modules with docstring problems:\n" + "\n".join(
        f"  {name}: {'; '.join(problems)}" for name, problems in failing.items())
