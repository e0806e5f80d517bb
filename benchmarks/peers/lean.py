"""What a careful engineer writes by hand in NumPy (and PyTorch): the "careful" column.

Each is the plainest fast loop for its task on CartPole-v1: noise drawn per episode in one
call, acting with one dot product, updates vectorised where the algorithm allows it.
"""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np

ACTIONS = (np.int64(0), np.int64(1))  # Discrete.contains checks these fastest
CAP = 500


def _episode(env, weights, bias, rng):
    """One CartPole episode with the two-action linear softmax (Gumbel threshold)."""
    difference, offset = weights[1] - weights[0], bias[1] - bias[0]
    thresholds = (-rng.logistic(size=CAP) - offset).tolist()  # G_0 − G_1 is logistic
    obs, _ = env.reset()
    states, actions, rewards = [obs], [], []
    for t in range(CAP):
        action = ACTIONS[bool(difference.dot(obs) > thresholds[t])]
        obs, reward, terminated, truncated, _ = env.step(action)
        states.append(obs)
        actions.append(action)
        rewards.append(reward)
        if terminated or truncated:
            break
    return np.asarray(states[:-1], dtype=np.float64), np.asarray(actions), np.asarray(rewards)


def _returns(rewards, gamma):
    returns, g = np.empty(len(rewards)), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        g = rewards[t] + gamma * g
        returns[t] = g
    return returns


def _seeded(seed):
    """CartPole-v1 reset under `seed`, its action generator, and W = 0, b = 0."""
    env = gym.make("CartPole-v1")
    env.reset(seed=seed)
    return env, np.random.default_rng(seed), np.zeros((2, 4)), np.zeros(2)


def _weights(rewards, alpha, gamma):
    """α γ^t G_t for every step t of an episode."""
    return alpha * gamma ** np.arange(len(rewards)) * _returns(rewards, gamma)


def reinforce_episode_update(episodes: int, alpha=1e-3, gamma=0.99, seed=0):
    """P1: the summed REINFORCE update once per episode, vectorised over its steps."""
    env, rng, weights, bias = _seeded(seed)
    steps, start = 0, time.perf_counter()
    for _ in range(episodes):
        states, actions, rewards = _episode(env, weights, bias, rng)
        step = _weights(rewards, alpha, gamma)
        logits = states @ weights.T + bias
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        error = -probabilities
        error[np.arange(len(actions)), actions] += 1.0
        error *= step[:, None]
        weights += error.T @ states
        bias += error.sum(axis=0)
        steps += len(rewards)
    return steps, time.perf_counter() - start


def reinforce_step_update(episodes: int, alpha=1e-3, gamma=0.99, seed=0):
    """P2: the book's per-step updates, one NumPy update per step after the episode."""
    env, rng, weights, bias = _seeded(seed)
    steps, start = 0, time.perf_counter()
    for _ in range(episodes):
        states, actions, rewards = _episode(env, weights, bias, rng)
        step = _weights(rewards, alpha, gamma)
        for t in range(len(rewards)):
            logits = weights @ states[t] + bias
            probabilities = np.exp(logits - logits.max())
            probabilities /= probabilities.sum()
            error = -probabilities
            error[actions[t]] += 1.0
            error *= step[t]
            weights += np.outer(error, states[t])
            bias += error
        steps += len(rewards)
    return steps, time.perf_counter() - start


def actor_critic_one_step(episodes: int, alpha_theta=1e-3, alpha_w=1e-3, gamma=0.99, seed=0):
    """P3: one-step actor-critic, linear actor and critic on the raw state, NumPy per step."""
    env, rng = gym.make("CartPole-v1"), np.random.default_rng(seed)
    env.reset(seed=seed)
    weights, bias, w, steps = np.zeros((2, 4)), np.zeros(2), np.zeros(4), 0
    start = time.perf_counter()
    for _ in range(episodes):
        noise = rng.gumbel(size=(CAP, 2))
        obs, _ = env.reset()
        x, discount = obs.astype(np.float64), 1.0
        for t in range(CAP):
            logits = weights @ x + bias
            action = int(np.argmax(logits + noise[t]))
            obs, reward, terminated, truncated, _ = env.step(ACTIONS[action])
            next_x = obs.astype(np.float64)
            delta = reward + (0.0 if terminated else gamma * w.dot(next_x)) - w.dot(x)
            probabilities = np.exp(logits - logits.max())
            probabilities /= probabilities.sum()
            error = -probabilities
            error[action] += 1.0
            error *= alpha_theta * discount * delta
            w += alpha_w * delta * x
            weights += np.outer(error, x)
            bias += error
            discount *= gamma
            x = next_x
            steps += 1
            if terminated or truncated:
                break
    return steps, time.perf_counter() - start


def mlp_reinforce(episodes: int, lr=1e-3, gamma=0.99, seed=0):
    """P4: REINFORCE with an MLP 4-128-2 in PyTorch (1 thread): no-grad acting, one backward."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 128), torch.nn.Tanh(), torch.nn.Linear(128, 2))
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    env, rng = gym.make("CartPole-v1"), np.random.default_rng(seed)
    env.reset(seed=seed)
    steps = 0
    start = time.perf_counter()
    for _ in range(episodes):
        noise = rng.gumbel(size=(CAP, 2))
        obs, _ = env.reset()
        states, actions, rewards = [], [], []
        with torch.no_grad():
            for t in range(CAP):
                logits = net(torch.from_numpy(obs)).numpy()
                action = int(np.argmax(logits + noise[t]))
                states.append(obs)
                actions.append(action)
                obs, reward, terminated, truncated, _ = env.step(ACTIONS[action])
                rewards.append(reward)
                if terminated or truncated:
                    break
        returns = torch.from_numpy(_returns(rewards, gamma)).float()
        returns = (returns - returns.mean()) / (returns.std() + 1e-8)
        log_probs = torch.log_softmax(net(torch.from_numpy(np.asarray(states))), dim=-1)
        chosen = log_probs[torch.arange(len(actions)), torch.as_tensor(actions)]
        optimizer.zero_grad()
        (-(chosen * returns).sum()).backward()
        optimizer.step()
        steps += len(rewards)
    return steps, time.perf_counter() - start


def vectorised_figure_13_1(runs: int = 100, episodes: int = 100, alpha=2**-13, seed=0):
    """P8's reference: the book's REINFORCE (p. 328) on the short corridor, vectorised over runs.

    All runs play each episode in lockstep (the corridor's dynamics as arrays); then the
    per-step updates run t = 0 … T − 1, each vectorised over the runs. Returns (env
    steps, seconds) for `episodes` episodes of `runs` runs at one α.
    """
    rng = np.random.default_rng(seed)
    theta = np.tile([np.log(0.05 / 0.95), 0.0], (runs, 1))  # h(right), h(left): π(right) = 0.05
    every, steps = np.arange(runs), 0
    start = time.perf_counter()
    for _ in range(episodes):
        state = np.zeros(runs, dtype=np.int64)
        active = np.ones(runs, dtype=bool)
        rights, alive = [], []
        for _ in range(1000):
            right = rng.random(runs) < 1.0 / (1.0 + np.exp(theta[:, 1] - theta[:, 0]))
            move = np.where(right, 1, -1)
            move = np.where(state == 1, -move, move)  # the second state reverses the actions
            state = np.where(active, np.clip(state + move, 0, 3), state)
            rights.append(right)
            alive.append(active.copy())
            active &= state != 3
            if not active.any():
                break
        mask = np.array(alive).T  # [R, T]
        lengths = mask.sum(axis=1)
        for t in range(mask.shape[1]):
            p_right = 1.0 / (1.0 + np.exp(theta[:, 1] - theta[:, 0]))
            score_right = rights[t] - p_right  # ∂ ln π / ∂ h(right); ∂/∂ h(left) is its negative
            step = alpha * -(lengths - t) * mask[:, t]  # G_t = −(T − t), γ = 1
            theta[every, 0] += step * score_right
            theta[every, 1] -= step * score_right
        steps += int(lengths.sum())
    return steps, time.perf_counter() - start
