import unittest

from invoice import invoice_total, line_total


class InvoiceTest(unittest.TestCase):
    def test_line_total(self) -> None:
        self.assertEqual(line_total(2.5, 4), 10.0)

    def test_no_discount(self) -> None:
        self.assertEqual(invoice_total([(10.0, 2), (5.0, 1)]), 25.0)

    def test_ten_percent_discount(self) -> None:
        self.assertEqual(invoice_total([(10.0, 2), (5.0, 1)], discount_percent=10), 22.5)


if __name__ == "__main__":
    unittest.main()
