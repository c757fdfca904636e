//! The `Control` transition: operator commands (pause, resume, stop, start, target switches,
//! new message versions, added targets).

use jiff::Timestamp;
use smb_domain::OperatorState;

use super::Planner;
use super::state::{CycleState, RunState};
use super::vocabulary::{Control, Effect};

impl Planner {
    pub(super) fn control(&mut self, c: Control, now: Timestamp, fx: &mut Vec<Effect>) {
        match c {
            Control::Pause(name) => {
                self.set_run(&name, &[RunState::Running], OperatorState::Paused, fx);
            }
            Control::Resume(name) => {
                self.set_run(&name, &[RunState::Paused], OperatorState::Running, fx);
            }
            Control::Stop(name) => self.set_run(
                &name,
                &[RunState::Running, RunState::Paused],
                OperatorState::Stopped,
                fx,
            ),
            Control::Start(name) => {
                self.set_run(
                    &name,
                    &[RunState::StoppedByOperator, RunState::Paused],
                    OperatorState::Running,
                    fx,
                );
                for b in self.broadcasters.iter_mut().filter(|b| *b.name == *name) {
                    if let CycleState::Idle { starts_at, .. } = &mut b.cycle {
                        *starts_at = (*starts_at).min(now);
                    }
                }
            }
            Control::EnableTarget(t) => {
                if self.disabled.remove(&t).is_some() {
                    fx.push(Effect::EnableTarget { target: t });
                }
            }
            Control::DisableTarget(t, reason) => {
                self.disabled.insert(t.clone(), None);
                fx.push(Effect::DisableTarget {
                    target: t,
                    reason,
                    recheck_at: None,
                });
            }
            Control::ReplaceMessages(set) => {
                for b in self
                    .broadcasters
                    .iter_mut()
                    .filter(|b| b.messages.name == set.name)
                {
                    // A broadcaster still waiting for its first version (nothing to send yet)
                    // starts its cycle now, not a whole cycle_delay later; one with texts
                    // switches at its next cycle, as always.
                    let waiting = b.messages.rotation_order().is_empty();
                    b.pending_messages = Some(set.clone());
                    if waiting && let CycleState::Idle { starts_at, .. } = &mut b.cycle {
                        *starts_at = (*starts_at).min(now);
                    }
                }
            }
            Control::AddTarget {
                broadcaster,
                target,
            } => {
                for b in self
                    .broadcasters
                    .iter_mut()
                    .filter(|b| *b.name == *broadcaster)
                {
                    if !b.targets.contains(&target) {
                        b.targets.push(target.clone());
                    }
                }
            }
        }
    }

    fn set_run(
        &mut self,
        name: &str,
        from: &[RunState],
        state: OperatorState,
        fx: &mut Vec<Effect>,
    ) {
        for b in self.broadcasters.iter_mut().filter(|b| *b.name == *name) {
            if from.contains(&b.run) {
                b.run = RunState::from(state);
                fx.push(Effect::BroadcasterState {
                    broadcaster: b.name.clone(),
                    state,
                });
            }
        }
    }
}
