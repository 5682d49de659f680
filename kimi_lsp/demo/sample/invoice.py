"""A tiny invoicing module with a bug for `kimi-lsp demo` to fix."""


def line_total(unit_price: float, quantity: int) -> float:
    return unit_price * quantity


def invoice_total(lines: list[tuple[float, int]], discount_percent: float = 0.0) -> float:
    """Sum of the lines, less a percentage discount, rounded to cents."""
    subtotal = sum(line_total(price, qty) for price, qty in lines)
    discount = subtotal * discount_percent
    return round(subtotal - discount, 2)
