//! The executor callbacks of ODP's ForeignScan nodes: each node runs the executor of
//! its plan's kind ([`NodePlan`]), a scan ([`super::scan`]) or a pushed aggregate
//! ([`super::grouped`]); direct modifications have callbacks of their own
//! ([`super::direct`]).

use super::grouped::AggregateState;
use super::memory::in_current_context;
use super::node::NodePlan;
use super::scan::{ScanState, SharedScan};
use super::Source;
use crate::error::OdpError;
use pgrx::{pg_guard, pg_sys};
use std::os::raw::c_int;

/// The executor's state of one node.
enum NodeState<S: Source> {
    Scan(ScanState<S>),
    Aggregate(AggregateState<S>),
}

/// The node's state.
///
/// # Safety
/// `node` must be a node begun by [`begin_foreign_scan`] of source `S`.
unsafe fn state<'a, S: Source>(node: *mut pg_sys::ForeignScanState) -> &'a mut NodeState<S> {
    // SAFETY: guaranteed by the caller: fdw_state holds a NodeState<S>.
    unsafe { &mut *((*node).fdw_state as *mut NodeState<S>) }
}

/// The scan state of a parallel-aware node (only scans are parallel).
///
/// # Safety
/// As for [`state`].
unsafe fn scan_state<'a, S: Source>(node: *mut pg_sys::ForeignScanState) -> &'a mut ScanState<S> {
    // SAFETY: guaranteed by the caller.
    match unsafe { state::<S>(node) } {
        NodeState::Scan(scan) => scan,
        NodeState::Aggregate(_) => OdpError::not_supported("a parallel aggregate node").report(),
    }
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn begin_foreign_scan<S: Source>(
    node: *mut pg_sys::ForeignScanState,
    _eflags: c_int,
) {
    // SAFETY: node is the executor's state of a ForeignScan ODP planned.
    let plan = unsafe { NodePlan::of((*node).ss.ps.plan as *mut pg_sys::ForeignScan) };
    // SAFETY: the node runs the plan just read from it.
    let state = unsafe {
        match plan {
            NodePlan::Scan(scan) => NodeState::<S>::Scan(ScanState::begin(node, scan)),
            NodePlan::Aggregate { scan, aggregate } => {
                NodeState::Aggregate(AggregateState::begin(node, scan, aggregate))
            }
            NodePlan::DirectModify { .. } => {
                OdpError::not_supported("a direct modification run as a scan").report()
            }
        }
    };
    // SAFETY: the node's state lives in the query's memory context.
    unsafe { (*node).fdw_state = in_current_context(state) as *mut _ };
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn iterate_foreign_scan<S: Source>(
    node: *mut pg_sys::ForeignScanState,
) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: fdw_state was set by begin_foreign_scan of the same source.
    unsafe {
        match state::<S>(node) {
            NodeState::Scan(scan) => scan.iterate(node),
            NodeState::Aggregate(aggregate) => aggregate.iterate(node),
        }
    }
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn rescan_foreign_scan<S: Source>(
    node: *mut pg_sys::ForeignScanState,
) {
    // SAFETY: fdw_state was set by begin_foreign_scan of the same source.
    match unsafe { state::<S>(node) } {
        NodeState::Scan(scan) => scan.rescan(),
        NodeState::Aggregate(aggregate) => aggregate.rescan(),
    }
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn end_foreign_scan<S: Source>(
    node: *mut pg_sys::ForeignScanState,
) {
    // SAFETY: fdw_state is the node's state, set by begin_foreign_scan (checked for
    // null all the same).
    let state = unsafe { (*node).fdw_state as *mut NodeState<S> };
    // SAFETY: a non-null fdw_state holds the node's state.
    if let Some(NodeState::Scan(scan)) = unsafe { state.as_mut() } {
        scan.end();
    }
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn explain_foreign_scan<S: Source>(
    node: *mut pg_sys::ForeignScanState,
    es: *mut pg_sys::ExplainState,
) {
    // SAFETY: fdw_state was set by begin_foreign_scan (EXPLAIN begins the node too);
    // es is the executor's.
    unsafe {
        match state::<S>(node) {
            NodeState::Scan(scan) => scan.explain(es),
            NodeState::Aggregate(aggregate) => aggregate.explain(es),
        }
    }
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn estimate_dsm_foreign_scan<S: Source>(
    node: *mut pg_sys::ForeignScanState,
    _pcxt: *mut pg_sys::ParallelContext,
) -> pg_sys::Size {
    // SAFETY: fdw_state was set by begin_foreign_scan of the same source.
    unsafe { scan_state::<S>(node) }.estimate_shared()
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn initialize_dsm_foreign_scan<S: Source>(
    node: *mut pg_sys::ForeignScanState,
    _pcxt: *mut pg_sys::ParallelContext,
    coordinate: *mut std::ffi::c_void,
) {
    // SAFETY: fdw_state was set by begin_foreign_scan; coordinate is this node's chunk
    // of dynamic shared memory, of the size estimate_dsm_foreign_scan asked for.
    unsafe { scan_state::<S>(node).initialize_shared(coordinate) }
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn reinitialize_dsm_foreign_scan(
    _node: *mut pg_sys::ForeignScanState,
    _pcxt: *mut pg_sys::ParallelContext,
    coordinate: *mut std::ffi::c_void,
) {
    // SAFETY: coordinate holds the SharedScan initialize_dsm_foreign_scan wrote.
    unsafe { (*(coordinate as *mut SharedScan)).restart() }
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn initialize_worker_foreign_scan<S: Source>(
    node: *mut pg_sys::ForeignScanState,
    _toc: *mut pg_sys::shm_toc,
    coordinate: *mut std::ffi::c_void,
) {
    // SAFETY: fdw_state was set by begin_foreign_scan in this worker; coordinate holds
    // the SharedScan and handoff the leader wrote.
    unsafe { scan_state::<S>(node).join_shared(coordinate) }
}
