// Users, permissions and topic permissions: the lists; administrators add or delete users (with
// tags) and set or clear a user's permissions and topic permissions in a vhost.
import { canAdmin, del, enc, get, put, type PermissionInfo, type TopicPermissionInfo, type UserInfo, type VhostInfo } from '../api';
import { h, Table } from '../dom';
import { actionButton, form, panel, syncOptions } from '../forms';
import type { Page } from '../page';

const TAGS = ['administrator', 'monitoring', 'policymaker', 'management', 'impersonator'];

export function usersPage(): Page {
  const msg = h('div', { class: 'note' });
  const admin = canAdmin();
  const users = new Table<UserInfo>('users', [
    { label: 'Name', value: (u) => u.name },
    { label: 'Tags', value: (u) => u.tags.join(', ') },
    ...(admin
      ? [{ label: '', value: () => '', render: (u: UserInfo) => actionButton('Delete', { 'data-delete-user': u.name }, `Delete user ${u.name}?`, msg, async () => {
          await del(`/api/users/${enc(u.name)}`);
          await refresh();
          return `User ${u.name} deleted.`;
        }) }]
      : []),
  ]);
  const perms = new Table<PermissionInfo>('permissions', [
    { label: 'User', value: (p) => p.user },
    { label: 'Virtual host', value: (p) => p.vhost },
    { label: 'Configure', value: (p) => p.configure, render: (p) => h('code', null, p.configure) },
    { label: 'Write', value: (p) => p.write, render: (p) => h('code', null, p.write) },
    { label: 'Read', value: (p) => p.read, render: (p) => h('code', null, p.read) },
    ...(admin
      ? [{ label: '', value: () => '', render: (p: PermissionInfo) => actionButton('Clear', { 'data-clear-permission': `${p.user}|${p.vhost}` }, `Clear ${p.user}'s permissions in ${p.vhost}?`, msg, async () => {
          await del(`/api/permissions/${enc(p.vhost)}/${enc(p.user)}`);
          await refresh();
          return `Permissions of ${p.user} in ${p.vhost} cleared.`;
        }) }]
      : []),
  ]);

  const topicPerms = new Table<TopicPermissionInfo>('topic-permissions', [
    { label: 'User', value: (p) => p.user },
    { label: 'Virtual host', value: (p) => p.vhost },
    { label: 'Exchange', value: (p) => p.exchange },
    { label: 'Write', value: (p) => p.write, render: (p) => h('code', null, p.write) },
    { label: 'Read', value: (p) => p.read, render: (p) => h('code', null, p.read) },
    // The API clears a user's topic permissions in a vhost all at once, as 3.10.8's does.
    ...(admin
      ? [{ label: '', value: () => '', render: (p: TopicPermissionInfo) => actionButton('Clear', { 'data-clear-topic-permission': `${p.user}|${p.vhost}|${p.exchange}` }, `Clear ${p.user}'s topic permissions in ${p.vhost}?`, msg, async () => {
          await del(`/api/topic-permissions/${enc(p.vhost)}/${enc(p.user)}`);
          await refresh();
          return `Topic permissions of ${p.user} in ${p.vhost} cleared.`;
        }) }]
      : []),
  ]);

  const name = h('input', { name: 'name', required: true, autocomplete: 'off' });
  const password = h('input', { name: 'password', type: 'password', required: true, autocomplete: 'new-password' });
  const tagBoxes = TAGS.map((t) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'tag', value: t }), ` ${t}`));
  const addUser = form('user', 'Add user', msg, async () => {
    const tags = tagBoxes.map((l) => l.querySelector('input')!).filter((i) => i.checked).map((i) => i.value);
    await put(`/api/users/${enc(name.value)}`, { password: password.value, tags });
    const done = `User ${name.value} set.`;
    password.value = '';
    await refresh();
    return done;
  }, [
    ['Name', name],
    ['Password', password],
    ['Tags', h('div', { class: 'checks' }, ...tagBoxes)],
  ]);

  const pUser = h('select', { name: 'user' });
  const pVhost = h('select', { name: 'vhost' });
  const re = (n: string) => h('input', { name: n, value: '.*' });
  const [configure, write, read] = [re('configure'), re('write'), re('read')];
  const setPerm = form('permission', 'Set permission', msg, async () => {
    await put(`/api/permissions/${enc(pVhost.value)}/${enc(pUser.value)}`, { configure: configure.value, write: write.value, read: read.value });
    await refresh();
    return `Permissions of ${pUser.value} in ${pVhost.value} set.`;
  }, [
    ['User', pUser],
    ['Virtual host', pVhost],
    ['Configure', configure],
    ['Write', write],
    ['Read', read],
  ]);

  const tUser = h('select', { name: 'user' });
  const tVhost = h('select', { name: 'vhost' });
  const tExchange = h('input', { name: 'exchange', value: 'amq.topic', required: true });
  const [tWrite, tRead] = [re('write'), re('read')];
  const setTopic = form('topic-permission', 'Set topic permission', msg, async () => {
    await put(`/api/topic-permissions/${enc(tVhost.value)}/${enc(tUser.value)}`, { exchange: tExchange.value, write: tWrite.value, read: tRead.value });
    await refresh();
    return `Topic permission of ${tUser.value} on ${tExchange.value} in ${tVhost.value} set.`;
  }, [
    ['User', tUser],
    ['Virtual host', tVhost],
    ['Exchange', tExchange],
    ['Write', tWrite],
    ['Read', tRead],
  ]);

  const refresh = async (): Promise<void> => {
    const [u, p, t, v] = await Promise.all([
      get<UserInfo[]>('/api/users'),
      get<PermissionInfo[]>('/api/permissions'),
      get<TopicPermissionInfo[]>('/api/topic-permissions'),
      admin ? get<VhostInfo[]>('/api/vhosts') : [],
    ]);
    users.update(u);
    perms.update(p);
    topicPerms.update(t);
    for (const s of [pUser, tUser]) syncOptions(s, u.map((x) => x.name));
    for (const s of [pVhost, tVhost]) syncOptions(s, v.map((x) => x.name), '/');
  };
  return {
    title: 'Users',
    el: h(
      'div',
      { class: 'page users' },
      h('h1', null, 'Users'),
      users.el,
      admin && panel('Add or update a user', addUser),
      h('h2', null, 'Permissions'),
      perms.el,
      admin && panel('Set permissions', setPerm),
      h('h2', null, 'Topic permissions'),
      topicPerms.el,
      admin && panel('Set a topic permission', setTopic),
      msg,
    ),
    refresh,
  };
}
