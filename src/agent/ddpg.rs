//! DDPG (Lillicrap et al. 2016): one critic, the target actor's action as it is, the actor and
//! the targets updated with every critic update. The update itself is
//! [`Agent::update`](super::nets::Agent::update).

use super::algo::Algorithm;

pub struct Ddpg;

impl Algorithm for Ddpg {}
