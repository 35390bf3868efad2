//! The storage conformance suite: one set of behaviours every backend must show.
//!
//! Each case is a function over a fresh, empty store. [`conformance_suite!`](crate::conformance_suite)
//! turns them into `#[tokio::test]`s for a backend: `shared/tests/conformance_embedded.rs` and
//! `shared/tests/conformance_dynamodb.rs` (DynamoDB Local) each invoke it once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::any::Any;
use std::sync::Arc;

use rust_decimal::Decimal;

use super::{
    Attr, Cmp, Condition, Index, Item, Key, PK, Page, Query, SK, SortRange, Store, StoreError,
    Update, WriteOp,
};

/// A store under test and whatever must outlive it (a temp dir, a table name).
pub struct Subject {
    pub store: Arc<dyn Store>,
    pub guard: Box<dyn Any + Send>,
}

/// Generates one `#[tokio::test]` per conformance case, each on a fresh store from `$make().await`.
#[macro_export]
macro_rules! conformance_suite {
    ($make:path) => {
        $crate::conformance_suite!(@cases $make;
            a_conditional_put_succeeds_once_then_reports_which_condition_failed,
            an_update_creates_the_item_and_adds_to_absent_numbers_from_zero,
            an_update_conditioned_on_an_older_version_is_refused_for_a_newer_one,
            a_conditional_delete_deletes_only_when_its_condition_holds,
            a_batch_applies_all_or_nothing_and_names_the_failed_write,
            a_batch_with_two_writes_to_one_item_is_refused,
            numeric_adds_from_50_concurrent_writers_come_out_exact,
            transactions_from_50_concurrent_writers_come_out_exact_with_retries,
            prefix_and_range_queries_return_sort_key_order_both_ways,
            cursors_resume_exactly_forward_and_backward,
            a_cursor_from_one_partition_is_refused_on_another,
            a_secondary_index_follows_puts_updates_and_deletes,
            an_item_of_almost_400_kb_round_trips_and_a_bigger_one_is_refused,
            empty_partitions_and_missing_items_read_as_empty,
            comparisons_follow_dynamodb_types,
            concurrent_increments_each_get_their_own_count,
            a_scan_by_sort_key_pages_through_every_partition_once,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let Some(subject) = $make().await else { return };
                $crate::store::conformance::$case(subject.store.clone()).await;
                drop(subject);
            }
        )*
    };
}

fn item(pk: &str, sk: &str, attrs: &[(&str, Attr)]) -> Item {
    let mut i = Item::new();
    i.insert(PK.into(), Attr::S(pk.into()));
    i.insert(SK.into(), Attr::S(sk.into()));
    for (k, v) in attrs {
        i.insert((*k).into(), v.clone());
    }
    i
}

fn num(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn sks(page: &Page) -> Vec<String> {
    page.items
        .iter()
        .map(|i| i.get(SK).and_then(Attr::as_s).unwrap().to_owned())
        .collect()
}

async fn put(store: &dyn Store, i: Item) {
    store
        .write(vec![WriteOp::Put {
            item: i,
            condition: None,
        }])
        .await
        .unwrap();
}

pub async fn a_conditional_put_succeeds_once_then_reports_which_condition_failed(
    s: Arc<dyn Store>,
) {
    let op = || WriteOp::Put {
        item: item("T#1", "A", &[("v", 1i64.into())]),
        condition: Some(Condition::NotExists),
    };
    s.write(vec![op()]).await.unwrap();
    let err = s.write(vec![op()]).await.unwrap_err();
    assert!(
        matches!(err, StoreError::ConditionFailed { index: 0 }),
        "{err:?}"
    );
    let got = s.get(&Key::new("T#1", "A")).await.unwrap().unwrap();
    assert_eq!(got.get("v"), Some(&Attr::N(Decimal::ONE)));
}

pub async fn an_update_creates_the_item_and_adds_to_absent_numbers_from_zero(s: Arc<dyn Store>) {
    let key = Key::new("T#1", "TOTALS");
    let up = Update::default()
        .add("orders", Decimal::ONE)
        .add("revenue", num("214.63"))
        .set("currency", "USD");
    s.write(vec![WriteOp::Update {
        key: key.clone(),
        update: up.clone(),
        condition: None,
    }])
    .await
    .unwrap();
    s.write(vec![WriteOp::Update {
        key: key.clone(),
        update: Update::default()
            .add("revenue", num("-14.63"))
            .remove("currency"),
        condition: None,
    }])
    .await
    .unwrap();
    let got = s.get(&key).await.unwrap().unwrap();
    assert_eq!(got.get("orders"), Some(&Attr::N(Decimal::ONE)));
    assert_eq!(got.get("revenue"), Some(&Attr::N(num("200.00"))));
    assert_eq!(got.get("currency"), None);
}

pub async fn an_update_conditioned_on_an_older_version_is_refused_for_a_newer_one(
    s: Arc<dyn Store>,
) {
    let key = Key::new("T#1", "ORDER#1");
    // Last writer wins on updated_at: write only if absent or strictly older.
    let newer_than = |ts: &str| {
        Some(Condition::Or(vec![
            Condition::AttrNotExists("updated_at".into()),
            Condition::compare("updated_at", Cmp::Lt, ts),
        ]))
    };
    let write = |ts: &'static str| WriteOp::Update {
        key: key.clone(),
        update: Update::default().set("updated_at", ts),
        condition: newer_than(ts),
    };
    s.write(vec![write("2026-11-25T10:00:00Z")]).await.unwrap();
    let stale = s.write(vec![write("2026-11-25T09:00:00Z")]).await;
    assert!(matches!(
        stale,
        Err(StoreError::ConditionFailed { index: 0 })
    ));
    let same = s.write(vec![write("2026-11-25T10:00:00Z")]).await;
    assert!(matches!(
        same,
        Err(StoreError::ConditionFailed { index: 0 })
    ));
    s.write(vec![write("2026-11-25T11:00:00Z")]).await.unwrap();
    let got = s.get(&key).await.unwrap().unwrap();
    assert_eq!(
        got.get("updated_at"),
        Some(&Attr::from("2026-11-25T11:00:00Z"))
    );
}

pub async fn a_conditional_delete_deletes_only_when_its_condition_holds(s: Arc<dyn Store>) {
    put(&*s, item("T#1", "A", &[("v", 2i64.into())])).await;
    let del = |v: i64| WriteOp::Delete {
        key: Key::new("T#1", "A"),
        condition: Some(Condition::compare("v", Cmp::Eq, v)),
    };
    let err = s.write(vec![del(1)]).await.unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed { index: 0 }));
    assert!(s.get(&Key::new("T#1", "A")).await.unwrap().is_some());
    s.write(vec![del(2)]).await.unwrap();
    assert!(s.get(&Key::new("T#1", "A")).await.unwrap().is_none());
    // Deleting what is not there, unconditionally, is not an error.
    s.write(vec![WriteOp::Delete {
        key: Key::new("T#1", "A"),
        condition: None,
    }])
    .await
    .unwrap();
}

pub async fn a_batch_applies_all_or_nothing_and_names_the_failed_write(s: Arc<dyn Store>) {
    put(&*s, item("T#1", "EXISTS", &[])).await;
    let batch = |check_sk: &str| {
        vec![
            WriteOp::Put {
                item: item("T#1", "A", &[]),
                condition: Some(Condition::NotExists),
            },
            WriteOp::Update {
                key: Key::new("T#1", "COUNT"),
                update: Update::default().add("n", Decimal::ONE),
                condition: None,
            },
            WriteOp::Delete {
                key: Key::new("T#1", "EXISTS"),
                condition: None,
            },
            WriteOp::Check {
                key: Key::new("T#1", check_sk),
                condition: Condition::Exists,
            },
        ]
    };
    put(&*s, item("T#1", "GATE", &[])).await;
    let err = s.write(batch("MISSING")).await.unwrap_err();
    assert!(
        matches!(err, StoreError::ConditionFailed { index: 3 }),
        "{err:?}"
    );
    assert!(s.get(&Key::new("T#1", "A")).await.unwrap().is_none());
    assert!(s.get(&Key::new("T#1", "COUNT")).await.unwrap().is_none());
    assert!(s.get(&Key::new("T#1", "EXISTS")).await.unwrap().is_some());

    s.write(batch("GATE")).await.unwrap();
    assert!(s.get(&Key::new("T#1", "A")).await.unwrap().is_some());
    assert!(s.get(&Key::new("T#1", "EXISTS")).await.unwrap().is_none());

    // Now the put's condition fails: it is write 0, and nothing else happens.
    let err = s.write(batch("GATE")).await.unwrap_err();
    assert!(
        matches!(err, StoreError::ConditionFailed { index: 0 }),
        "{err:?}"
    );
    let count = s.get(&Key::new("T#1", "COUNT")).await.unwrap().unwrap();
    assert_eq!(count.get("n"), Some(&Attr::N(Decimal::ONE)));
}

pub async fn a_batch_with_two_writes_to_one_item_is_refused(s: Arc<dyn Store>) {
    let op = || WriteOp::Update {
        key: Key::new("T#1", "A"),
        update: Update::default().add("n", Decimal::ONE),
        condition: None,
    };
    let err = s.write(vec![op(), op()]).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert!(s.get(&Key::new("T#1", "A")).await.unwrap().is_none());
}

/// Retries a write the store called retryable, as every caller of the interface does.
async fn write_retrying(s: &dyn Store, ops: Vec<WriteOp>) {
    for attempt in 0..100u64 {
        match s.write(ops.clone()).await {
            Ok(()) => return,
            Err(e) if e.is_retryable() => {
                tokio::time::sleep(std::time::Duration::from_millis(5 + attempt * 3)).await;
            }
            Err(e) => panic!("write failed: {e:?}"),
        }
    }
    panic!("write still throttled after 100 attempts");
}

pub async fn numeric_adds_from_50_concurrent_writers_come_out_exact(s: Arc<dyn Store>) {
    let key = Key::new("T#1", "TOTALS");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                let up = Update::default()
                    .add("orders", Decimal::ONE)
                    .add("revenue", num("0.01"));
                write_retrying(
                    &*s,
                    vec![WriteOp::Update {
                        key: key.clone(),
                        update: up,
                        condition: None,
                    }],
                )
                .await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let got = s.get(&key).await.unwrap().unwrap();
    assert_eq!(got.get("orders"), Some(&Attr::N(Decimal::from(500))));
    assert_eq!(got.get("revenue"), Some(&Attr::N(num("5.00"))));
}

pub async fn concurrent_increments_each_get_their_own_count(s: Arc<dyn Store>) {
    let key = Key::new("T#1", "RATE#600");
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let (s, key) = (s.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            s.increment(&key, 4_000_000_000).await.unwrap()
        }));
    }
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=40).collect::<Vec<u64>>(),
        "every increment counted once"
    );
    // Counters are independent per key.
    assert_eq!(
        s.increment(&Key::new("T#1", "RATE#660"), 4_000_000_000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.increment(&Key::new("T#2", "RATE#600"), 4_000_000_000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(s.increment(&key, 4_000_000_000).await.unwrap(), 41);
}

pub async fn transactions_from_50_concurrent_writers_come_out_exact_with_retries(
    s: Arc<dyn Store>,
) {
    let key = Key::new("T#1", "TOTALS");
    let mut tasks = Vec::new();
    for w in 0..50 {
        let s = s.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..2 {
                let ops = vec![
                    WriteOp::Put {
                        item: item("T#1", &format!("EVENT#{w}-{i}"), &[]),
                        condition: Some(Condition::NotExists),
                    },
                    WriteOp::Update {
                        key: key.clone(),
                        update: Update::default().add("n", Decimal::ONE),
                        condition: None,
                    },
                ];
                write_retrying(&*s, ops).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let got = s.get(&key).await.unwrap().unwrap();
    assert_eq!(got.get("n"), Some(&Attr::N(Decimal::from(100))));
    let events = s
        .query(
            &Query::partition(Index::Primary, "T#1", SortRange::Prefix("EVENT#".into()))
                .limit(1000),
        )
        .await
        .unwrap();
    assert_eq!(events.items.len(), 100);
}

pub async fn prefix_and_range_queries_return_sort_key_order_both_ways(s: Arc<dyn Store>) {
    for sk in [
        "DAY#2026-11-01",
        "DAY#2026-11-02",
        "DAY#2026-11-03",
        "DAYS",
        "ORDER#1",
        "A",
    ] {
        put(&*s, item("T#1", sk, &[])).await;
    }
    put(&*s, item("T#2", "DAY#2026-11-02", &[])).await;
    put(&*s, item("T#10", "DAY#2026-11-02", &[])).await;

    let q = Query::partition(Index::Primary, "T#1", SortRange::Prefix("DAY#".into()));
    let page = s.query(&q).await.unwrap();
    assert_eq!(
        sks(&page),
        ["DAY#2026-11-01", "DAY#2026-11-02", "DAY#2026-11-03"]
    );
    assert!(page.next.is_none());
    let page = s.query(&q.clone().backward()).await.unwrap();
    assert_eq!(
        sks(&page),
        ["DAY#2026-11-03", "DAY#2026-11-02", "DAY#2026-11-01"]
    );

    let between = SortRange::Between("DAY#2026-11-02".into(), "DAY#2026-11-03".into());
    let page = s
        .query(&Query::partition(Index::Primary, "T#1", between))
        .await
        .unwrap();
    assert_eq!(sks(&page), ["DAY#2026-11-02", "DAY#2026-11-03"]);

    let all = s
        .query(&Query::partition(Index::Primary, "T#1", SortRange::All))
        .await
        .unwrap();
    assert_eq!(
        sks(&all),
        [
            "A",
            "DAY#2026-11-01",
            "DAY#2026-11-02",
            "DAY#2026-11-03",
            "DAYS",
            "ORDER#1"
        ]
    );
}

pub async fn cursors_resume_exactly_forward_and_backward(s: Arc<dyn Store>) {
    let all: Vec<String> = (0..25).map(|i| format!("ORDER#{i:03}")).collect();
    for sk in &all {
        put(&*s, item("T#1", sk, &[])).await;
    }
    for forward in [true, false] {
        let mut expected = all.clone();
        if !forward {
            expected.reverse();
        }
        let mut q =
            Query::partition(Index::Primary, "T#1", SortRange::Prefix("ORDER#".into())).limit(7);
        q.forward = forward;
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = s.query(&q).await.unwrap();
            pages += 1;
            seen.extend(sks(&page));
            match page.next {
                // The text form is what clients hold between requests.
                Some(c) => q.cursor = Some(super::Cursor::decode(&c.encode()).unwrap()),
                None => break,
            }
        }
        assert_eq!(seen, expected);
        assert_eq!(pages, 4, "25 items in pages of 7, and no empty last page");
    }
    // A page that ends exactly at the last item has no cursor.
    let q = Query::partition(Index::Primary, "T#1", SortRange::All).limit(25);
    assert!(s.query(&q).await.unwrap().next.is_none());
}

pub async fn a_cursor_from_one_partition_is_refused_on_another(s: Arc<dyn Store>) {
    for i in 0..3 {
        put(&*s, item("T#1", &format!("X#{i}"), &[])).await;
        put(&*s, item("T#2", &format!("X#{i}"), &[])).await;
    }
    let page = s
        .query(&Query::partition(Index::Primary, "T#1", SortRange::All).limit(1))
        .await
        .unwrap();
    let cursor = page.next.unwrap();
    let other = Query::partition(Index::Primary, "T#2", SortRange::All).after(Some(cursor.clone()));
    assert!(matches!(
        s.query(&other).await,
        Err(StoreError::InvalidCursor)
    ));
    let other_index = Query::partition(Index::Gsi1, "T#1", SortRange::All).after(Some(cursor));
    assert!(matches!(
        s.query(&other_index).await,
        Err(StoreError::InvalidCursor)
    ));
}

pub async fn a_secondary_index_follows_puts_updates_and_deletes(s: Arc<dyn Store>) {
    let rank = |spend: &str| ("gsi1sk", Attr::from(spend));
    for (id, spend) in [
        ("1", "0000000500"),
        ("2", "0000000300"),
        ("3", "0000000900"),
    ] {
        put(
            &*s,
            item(
                "T#1",
                &format!("CUST#{id}"),
                &[
                    ("gsi1pk", "T#1#SPEND".into()),
                    rank(spend),
                    ("id", id.into()),
                ],
            ),
        )
        .await;
    }
    // Not in the index: lacks the index's sort key.
    put(
        &*s,
        item("T#1", "CUST#4", &[("gsi1pk", "T#1#SPEND".into())]),
    )
    .await;
    let top = || {
        Query::partition(Index::Gsi1, "T#1#SPEND", SortRange::All)
            .backward()
            .limit(2)
    };
    let ids = |p: &Page| -> Vec<String> {
        p.items
            .iter()
            .map(|i| i.get("id").and_then(Attr::as_s).unwrap().to_owned())
            .collect()
    };
    let first = s.query(&top()).await.unwrap();
    assert_eq!(ids(&first), ["3", "1"]);
    let rest = s.query(&top().after(first.next.clone())).await.unwrap();
    assert_eq!(ids(&rest), ["2"]);
    assert!(rest.next.is_none());

    s.write(vec![WriteOp::Update {
        key: Key::new("T#1", "CUST#2"),
        update: Update::default().set("gsi1sk", "0000001000"),
        condition: None,
    }])
    .await
    .unwrap();
    s.write(vec![WriteOp::Delete {
        key: Key::new("T#1", "CUST#3"),
        condition: None,
    }])
    .await
    .unwrap();
    let now = s.query(&top().limit(10)).await.unwrap();
    assert_eq!(ids(&now), ["2", "1"]);
}

pub async fn an_item_of_almost_400_kb_round_trips_and_a_bigger_one_is_refused(s: Arc<dyn Store>) {
    let big = vec![7u8; 395 * 1024];
    put(&*s, item("T#1", "BIG", &[("blob", Attr::B(big.clone()))])).await;
    let got = s.get(&Key::new("T#1", "BIG")).await.unwrap().unwrap();
    assert_eq!(got.get("blob"), Some(&Attr::B(big)));

    let too_big = "x".repeat(410 * 1024);
    let err = s
        .write(vec![WriteOp::Put {
            item: item("T#1", "HUGE", &[("text", Attr::S(too_big))]),
            condition: None,
        }])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ItemTooLarge), "{err:?}");
    assert!(s.get(&Key::new("T#1", "HUGE")).await.unwrap().is_none());
}

pub async fn empty_partitions_and_missing_items_read_as_empty(s: Arc<dyn Store>) {
    assert!(s.get(&Key::new("T#9", "NOPE")).await.unwrap().is_none());
    for index in [Index::Primary, Index::Gsi1, Index::Gsi2] {
        let page = s
            .query(&Query::partition(index, "T#9", SortRange::All))
            .await
            .unwrap();
        assert!(page.items.is_empty() && page.next.is_none());
    }
}

pub async fn comparisons_follow_dynamodb_types(s: Arc<dyn Store>) {
    put(
        &*s,
        item("T#1", "A", &[("n", Attr::N(num("10"))), ("t", "b".into())]),
    )
    .await;
    let check = |c: Condition| WriteOp::Check {
        key: Key::new("T#1", "A"),
        condition: c,
    };
    let holds = |c: Condition| {
        let s = s.clone();
        async move {
            // A lone check needs a companion write to form a batch on every backend.
            let companion = WriteOp::Update {
                key: Key::new("T#1", "COMPANION"),
                update: Update::default().add("n", Decimal::ONE),
                condition: None,
            };
            match s.write(vec![check(c), companion]).await {
                Ok(()) => true,
                Err(StoreError::ConditionFailed { index: 0 }) => false,
                Err(e) => panic!("{e:?}"),
            }
        }
    };
    // Numbers compare by value, not text: 9 < 10.
    assert!(holds(Condition::compare("n", Cmp::Gt, Attr::N(num("9")))).await);
    assert!(holds(Condition::compare("n", Cmp::Eq, Attr::N(num("10.00")))).await);
    assert!(holds(Condition::compare("t", Cmp::Lt, "c")).await);
    // Another type, or a missing attribute, is never equal, less or unequal.
    assert!(!holds(Condition::compare("n", Cmp::Eq, "10")).await);
    assert!(!holds(Condition::compare("missing", Cmp::Ne, "x")).await);
    assert!(
        holds(Condition::Not(Box::new(Condition::AttrExists(
            "missing".into()
        ))))
        .await
    );
    assert!(
        !holds(Condition::And(vec![
            Condition::Exists,
            Condition::compare("n", Cmp::Lt, Attr::N(num("10")))
        ]))
        .await
    );
}

pub async fn a_scan_by_sort_key_pages_through_every_partition_once(s: Arc<dyn Store>) {
    let mut want = std::collections::BTreeSet::new();
    let mut ops = Vec::new();
    for t in 0..23 {
        let pk = format!("T#{t}");
        ops.push(WriteOp::Put {
            item: item(&pk, "PROFILE", &[("n", Attr::N(Decimal::from(t)))]),
            condition: None,
        });
        ops.push(WriteOp::Put {
            item: item(&pk, "PROFILE#NOT", &[]),
            condition: None,
        });
        want.insert(pk);
        if ops.len() >= 40 {
            s.write(std::mem::take(&mut ops)).await.unwrap();
        }
    }
    ops.push(WriteOp::Put {
        item: item("DIR#X", "OTHER", &[]),
        condition: None,
    });
    s.write(ops).await.unwrap();
    let mut got = std::collections::BTreeSet::new();
    let mut after: Option<Key> = None;
    let mut pages = 0;
    loop {
        let (items, next) = s.scan_sort_key("PROFILE", after.as_ref(), 5).await.unwrap();
        pages += 1;
        assert!(items.len() <= 5);
        for i in &items {
            assert_eq!(i[SK].as_s(), Some("PROFILE"));
            assert!(
                got.insert(i[PK].as_s().unwrap().to_owned()),
                "an item came twice"
            );
        }
        match next {
            Some(k) => after = Some(k),
            None => break,
        }
        assert!(pages < 50, "the scan never ends");
    }
    assert_eq!(got, want);
    assert!(pages >= 5, "{pages} pages for 23 items at 5 a page");
}
