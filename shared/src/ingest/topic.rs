//! Webhook topics the service accepts, and which endpoint takes which.

/// A supported topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    CustomersCreate,
    CustomersUpdate,
    CustomersDelete,
    OrdersCreate,
    OrdersUpdated,
    OrdersPaid,
    OrdersCancelled,
    OrdersFulfilled,
    OrdersPartiallyFulfilled,
    OrdersDelete,
    ProductsCreate,
    ProductsUpdate,
    ProductsDelete,
    CheckoutsCreate,
    CheckoutsUpdate,
    CheckoutsDelete,
    CustomersDataRequest,
    CustomersRedact,
    ShopRedact,
    AppUninstalled,
}

/// The group of topics one `/webhooks/<family>` endpoint takes (`/webhooks` takes them all).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Customers,
    Orders,
    Products,
    /// Checkouts (only at `/webhooks`).
    Checkouts,
    /// Mandatory compliance and lifecycle topics.
    Compliance,
}

const ALL: [(Topic, &str); 20] = [
    (Topic::CustomersCreate, "customers/create"),
    (Topic::CustomersUpdate, "customers/update"),
    (Topic::CustomersDelete, "customers/delete"),
    (Topic::OrdersCreate, "orders/create"),
    (Topic::OrdersUpdated, "orders/updated"),
    (Topic::OrdersPaid, "orders/paid"),
    (Topic::OrdersCancelled, "orders/cancelled"),
    (Topic::OrdersFulfilled, "orders/fulfilled"),
    (
        Topic::OrdersPartiallyFulfilled,
        "orders/partially_fulfilled",
    ),
    (Topic::OrdersDelete, "orders/delete"),
    (Topic::ProductsCreate, "products/create"),
    (Topic::ProductsUpdate, "products/update"),
    (Topic::ProductsDelete, "products/delete"),
    (Topic::CheckoutsCreate, "checkouts/create"),
    (Topic::CheckoutsUpdate, "checkouts/update"),
    (Topic::CheckoutsDelete, "checkouts/delete"),
    (Topic::CustomersDataRequest, "customers/data_request"),
    (Topic::CustomersRedact, "customers/redact"),
    (Topic::ShopRedact, "shop/redact"),
    (Topic::AppUninstalled, "app/uninstalled"),
];

impl Topic {
    /// Shopify's name (`orders/create`), case-insensitive.
    pub fn parse(name: &str) -> Option<Topic> {
        let name = name.trim();
        ALL.iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(t, _)| *t)
    }

    pub fn as_str(self) -> &'static str {
        ALL.iter()
            .find(|(t, _)| *t == self)
            .map(|(_, n)| *n)
            .unwrap_or("unknown")
    }

    /// Every supported topic.
    pub fn all() -> impl Iterator<Item = Topic> {
        ALL.iter().map(|(t, _)| *t)
    }

    /// A mandatory privacy topic: declared app-wide (`shopify.app.toml`), never subscribed per shop.
    pub fn is_compliance(self) -> bool {
        matches!(
            self,
            Topic::CustomersDataRequest | Topic::CustomersRedact | Topic::ShopRedact
        )
    }

    pub fn family(self) -> Family {
        use Topic::*;
        match self {
            CustomersCreate | CustomersUpdate | CustomersDelete => Family::Customers,
            OrdersCreate
            | OrdersUpdated
            | OrdersPaid
            | OrdersCancelled
            | OrdersFulfilled
            | OrdersPartiallyFulfilled
            | OrdersDelete => Family::Orders,
            ProductsCreate | ProductsUpdate | ProductsDelete => Family::Products,
            CheckoutsCreate | CheckoutsUpdate | CheckoutsDelete => Family::Checkouts,
            CustomersDataRequest | CustomersRedact | ShopRedact | AppUninstalled => {
                Family::Compliance
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_name_parses_back_to_its_topic() {
        for (t, n) in ALL {
            assert_eq!(Topic::parse(n), Some(t));
            assert_eq!(t.as_str(), n);
        }
        assert_eq!(Topic::parse("ORDERS/CREATE"), Some(Topic::OrdersCreate));
        assert_eq!(Topic::parse("orders/edited"), None);
        assert_eq!(Topic::parse("refunds/create"), None);
    }
}
